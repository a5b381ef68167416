#pragma once

#include <string>
#include <vector>

#include "controlplane/kubernetes/injector.h"

namespace CLI {
class App;
}

namespace meshdeck::tools {

// `meshdeckctl inject -f FILE [-o FILE]` (docs/kubernetes-injection.md, "Manual injection"):
// the sidecar added to every pod template of a manifest by the webhook's own patch code.
struct InjectOptions {
  std::string file;          // "-" : standard input
  std::string output = "-";  // "-" : standard output
  cp::kubernetes::InjectionSettings settings;
};

// What happened to one workload of the manifest: "deployment/reviews: injected" or
// "pod/debug: left alone: opted out by annotation ...".
struct InjectNote {
  std::string workload;
  bool injected = false;
  std::string reason;
};

// Reads `yaml` (one or many documents: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet,
// ReplicationController, Job, CronJob, or a List of them; other kinds pass through unchanged),
// applies computeInjection()'s patch to each pod (template) and writes the documents as YAML to
// `out`. Key order is kept, comments are not. False with the reason (the
// located YAML error, a patch that does not apply) in `error`; `out` is then untouched.
bool injectManifests(const std::string& yaml, const std::string& source_name,
                     const cp::kubernetes::InjectionSettings& settings, std::string* out,
                     std::vector<InjectNote>* notes, std::string* error);

// Declares the `inject` subcommand on `app`, bound to `o` (which must outlive the parse).
CLI::App* declareInjectCommand(CLI::App& app, InjectOptions& o);
// Runs it: 0 done (the notes on stderr), 1 unreadable input, bad YAML or bad settings.
int runInject(const InjectOptions& o);

}  // namespace meshdeck::tools
