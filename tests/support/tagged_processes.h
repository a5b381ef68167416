// Finding every process a test started, however deep: the test puts a unique variable in the
// environment its children inherit, and looks for it in /proc/<pid>/environ (Linux only).
#pragma once

#include <QByteArray>
#include <QList>
#include <QProcess>
#include <QProcessEnvironment>

namespace meshdeck::test {

// A fresh "MESHDECK_TEST_TAG=<uuid>" to put in a child's environment.
QByteArray newProcessTag();

// This process's environment with `tag` (a newProcessTag()) added, for QProcess.
QProcessEnvironment taggedEnvironment(const QByteArray& tag);

// The pids of the processes, other than this one, whose environment contains `tag`. Processes
// of other users are not readable and never listed.
QList<int> processesTagged(const QByteArray& tag);

// processesTagged(tag), polled for up to `timeout_ms` until it is empty (death signals take a
// moment to be delivered); the survivors.
QList<int> survivorsTagged(const QByteArray& tag, int timeout_ms = 5'000);

// Sends `signo` to the process `p` runs, and nothing when it runs none: QProcess::processId()
// is 0 then, and kill(0, signo) would signal the test's own process group (ctest included).
// False when nothing was signalled.
bool signalProcess(const QProcess& p, int signo);

}  // namespace meshdeck::test
