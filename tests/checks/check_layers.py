#!/usr/bin/python3
"""The layer rules of docs/architecture.md, checked on the sources and the CMake files.

Usage: check_layers.py SOURCE_DIR     runs the self-test, then checks SOURCE_DIR
       check_layers.py --self-test    runs the self-test only

Rules (an #include is followed through the project's own headers, so a rule cannot be dodged
by one level of indirection):
  ui-no-grpc         nothing reached from ui/ includes gRPC, protobuf or a generated *.pb.h
  ui-api-only        nothing reached from ui/ is under controlplane/ other than controlplane/api/
  core-no-qt         nothing reached from common/, proxy/ or controlplane/ includes a Qt header
                     (<Q...>, <qt...>) or anything under ui/ or app/
  link-ui            the targets defined under ui/ and controlplane/api/, and the targets their
                     PUBLIC/INTERFACE links carry, are none of: meshdeck_controlplane,
                     meshdeck_proto, meshdeck_dep_proto, gRPC::*, protobuf::*; ui/ links nothing
                     of controlplane/ but meshdeck_controlplane_api
  fleet-no-grpc      nothing reached from controlplane/fleet/ includes gRPC, protobuf or *.pb.h
  link-fleet         the targets under controlplane/fleet/ reach (as link-ui) none of those but
                     meshdeck_identity (the fleet writes the sidecars' bootstrap tokens)
  link-core-no-qt    no target defined under common/, proxy/ or controlplane/ links Qt
  thin-main          every main.cpp has at most MAX_MAIN_LINES lines; app/ at most
                     MAX_APP_LINES lines of .cpp/.h in all

The self-test builds small trees in a temporary directory, one violation of each rule per tree,
and fails unless each is reported (and a clean tree passes): the check cannot pass by finding
nothing.
"""

import os
import re
import sys
import tempfile

# Issue 16: the command lines of meshdeck-proxy, meshdeck-controlplane and meshdeck moved out of
# their main.cpp into tested libraries (proxy/cli, controlplane/cli, app/command_line). Today the
# longest main.cpp is tools/demo_service/main.cpp at 167 lines (was proxy/main.cpp at 256), and
# app/ is 616 lines, the desktop's command-line checks included (moved out of main.cpp).
MAX_MAIN_LINES = 180
MAX_APP_LINES = 640

SOURCE_EXTENSIONS = (".h", ".hpp", ".cpp", ".cc")
CORE_DIRS = ("common", "proxy", "controlplane")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.MULTILINE)
QT_RE = re.compile(r"^(Q[A-Za-z0-9_]*|qt[A-Za-z0-9_]*)(/|\.h$|$)")
GRPC_RE = re.compile(r"^(grpc|grpcpp|grpc\+\+)(/|\.h$)|^google/protobuf/|\.pb\.h$")
FORBIDDEN_FOR_UI = re.compile(
    r"^(meshdeck_controlplane|meshdeck_proto|meshdeck_dep_proto|meshdeck_fleet|"
    r"meshdeck_identity|gRPC::.*|protobuf::.*)$")
QT_TARGET_RE = re.compile(r"^Qt[0-9]*::")
CMAKE_LINK_RE = re.compile(r"target_link_libraries\s*\(([^)]*)\)", re.S)
CMAKE_DEFINE_RE = re.compile(r"add_(?:library|executable)\s*\(\s*([A-Za-z0-9_.+-]+)")


def rel(path, root):
    return os.path.relpath(path, root).replace(os.sep, "/")


def source_files(root, top):
    base = os.path.join(root, top)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "build")
        for name in sorted(filenames):
            if name.endswith(SOURCE_EXTENSIONS):
                yield rel(os.path.join(dirpath, name), root)


class Includes:
    """Project-relative include graph, read lazily."""

    def __init__(self, root):
        self.root = root
        self.cache = {}

    def direct(self, path):
        if path not in self.cache:
            try:
                with open(os.path.join(self.root, path), encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except OSError:
                text = ""
            entries = []
            for kind, name in INCLUDE_RE.findall(text):
                resolved = None
                if kind == '"':
                    for candidate in (name, os.path.join(os.path.dirname(path), name)):
                        candidate = os.path.normpath(candidate).replace(os.sep, "/")
                        if os.path.isfile(os.path.join(self.root, candidate)):
                            resolved = candidate
                            break
                entries.append((kind, name, resolved))
            self.cache[path] = entries
        return self.cache[path]

    def walk(self, start):
        """Yields (file, chain) for every project file reached from start, start included."""
        seen = {start: [start]}
        stack = [start]
        while stack:
            path = stack.pop()
            yield path, seen[path]
            for _, _, resolved in self.direct(path):
                if resolved and resolved not in seen:
                    seen[resolved] = seen[path] + [resolved]
                    stack.append(resolved)


def check_includes(root):
    """One error per offending (rule, file, include), shown with the first chain that reaches it."""
    found = {}
    graph = Includes(root)
    counts = {}
    for top in ("ui",) + CORE_DIRS + ("controlplane/fleet",):
        files = list(source_files(root, top))
        counts[top] = len(files)
        for start in files:
            for path, chain in graph.walk(start):
                via = " -> ".join(chain)

                def report(rule):
                    found.setdefault((rule, path, name), f"{rule}: {via} includes {shown}")

                for kind, name, resolved in graph.direct(path):
                    shown = f"<{name}>" if kind == "<" else f'"{name}"'
                    if top == "ui":
                        if GRPC_RE.search(name):
                            report("ui-no-grpc")
                        if (resolved and resolved.startswith("controlplane/")
                                and not resolved.startswith("controlplane/api/")):
                            report("ui-api-only")
                    elif top == "controlplane/fleet":
                        if GRPC_RE.search(name):
                            report("fleet-no-grpc")
                    else:
                        if kind == "<" and QT_RE.search(name):
                            report("core-no-qt")
                        if resolved and resolved.split("/")[0] in ("ui", "app"):
                            report("core-no-qt")
    return sorted(found.values()), counts


def parse_cmake(root):
    """Returns ({target: folder}, {target: [(scope, item)]}) from every CMakeLists.txt."""
    defined, links = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "build")
        if "CMakeLists.txt" not in filenames:
            continue
        path = os.path.join(dirpath, "CMakeLists.txt")
        folder = rel(dirpath, root)
        with open(path, encoding="utf-8") as f:
            text = re.sub(r"#[^\n]*", "", f.read())
        for name in CMAKE_DEFINE_RE.findall(text):
            defined[name] = folder
        for body in CMAKE_LINK_RE.findall(text):
            words = [w.strip('"') for w in body.split()]
            if not words:
                continue
            scope = "PUBLIC"  # the plain signature propagates like PUBLIC
            for word in words[1:]:
                if word in ("PUBLIC", "PRIVATE", "INTERFACE"):
                    scope = word
                    continue
                links.setdefault(words[0], []).append((scope, word))
    return defined, links


def carried(target, links):
    """Every target whose usage requirements reach a consumer of `target` (its direct links
    and, from each, the PUBLIC/INTERFACE ones, transitively)."""
    result = set()
    stack = [item for _, item in links.get(target, [])]
    while stack:
        item = stack.pop()
        if item in result:
            continue
        result.add(item)
        stack.extend(i for scope, i in links.get(item, []) if scope != "PRIVATE")
    return result


def in_folder(folder, tops):
    return any(folder == t or folder.startswith(t + "/") for t in tops)


def check_links(root):
    errors = []
    defined, links = parse_cmake(root)
    ui_targets = [t for t, d in defined.items() if in_folder(d, ("ui", "controlplane/api"))]
    for target in sorted(ui_targets):
        for item in sorted(carried(target, links)):
            if FORBIDDEN_FOR_UI.match(item):
                errors.append(f"link-ui: {target} ({defined[target]}/CMakeLists.txt) reaches {item}")
    for target in sorted(t for t, d in defined.items() if in_folder(d, ("controlplane/fleet",))):
        for item in sorted(carried(target, links)):
            if FORBIDDEN_FOR_UI.match(item) and item != "meshdeck_identity":
                errors.append(
                    f"link-fleet: {target} ({defined[target]}/CMakeLists.txt) reaches {item}")
    for target in sorted(t for t, d in defined.items() if in_folder(d, CORE_DIRS)):
        for item in sorted(carried(target, links)):
            if QT_TARGET_RE.match(item):
                errors.append(
                    f"link-core-no-qt: {target} ({defined[target]}/CMakeLists.txt) reaches {item}")
    return errors, len(ui_targets)


def check_thin(root):
    errors = []
    app_lines = 0
    mains = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "build")
        for name in filenames:
            path = os.path.join(dirpath, name)
            where = rel(path, root)
            if not name.endswith(SOURCE_EXTENSIONS):
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = sum(1 for _ in f)
            if name == "main.cpp" and not where.startswith("tests/"):
                mains += 1
                if lines > MAX_MAIN_LINES:
                    errors.append(f"thin-main: {where} has {lines} lines (at most {MAX_MAIN_LINES})")
            if where.startswith("app/"):
                app_lines += lines
    if app_lines > MAX_APP_LINES:
        errors.append(f"thin-main: app/ has {app_lines} lines of .cpp/.h (at most {MAX_APP_LINES})")
    return errors, mains


def check(root, quiet=False):
    include_errors, counts = check_includes(root)
    link_errors, ui_targets = check_links(root)
    thin_errors, mains = check_thin(root)
    errors = include_errors + link_errors + thin_errors
    if not quiet:
        print(f"check_layers: {sum(counts.values())} files under ui/ and {', '.join(CORE_DIRS)}; "
              f"{ui_targets} ui/api targets; {mains} main.cpp")
        for e in errors:
            print(e)
    return errors, counts, ui_targets, mains


# --- self-test -------------------------------------------------------------------------------

CLEAN_TREE = {
    "common/latency_histogram.h": "#pragma once\n#include <vector>\n",
    "controlplane/api/types.h": '#pragma once\n#include "common/latency_histogram.h"\n',
    "controlplane/api/CMakeLists.txt":
        "add_library(meshdeck_controlplane_api STATIC types.cpp)\n"
        "target_link_libraries(meshdeck_controlplane_api PUBLIC meshdeck_common PRIVATE fmt::fmt)\n",
    "controlplane/server/mesh_service.h": '#pragma once\n#include "meshdeck/v1/management.grpc.pb.h"\n',
    "controlplane/CMakeLists.txt":
        "add_library(meshdeck_controlplane STATIC a.cpp)\n"
        "target_link_libraries(meshdeck_controlplane PUBLIC meshdeck_proto)\n",
    "common/CMakeLists.txt":
        "add_library(meshdeck_common STATIC a.cpp)\n"
        "target_link_libraries(meshdeck_common PRIVATE meshdeck_proto)\n",
    "proto/CMakeLists.txt":
        "add_library(meshdeck_proto STATIC)\n"
        "target_link_libraries(meshdeck_proto PUBLIC gRPC::grpc++)\n",
    "ui/view.h": '#pragma once\n#include <QWidget>\n#include "controlplane/api/types.h"\n',
    "ui/view.cpp": '#include "ui/view.h"\n#include <queue>\n',
    "ui/CMakeLists.txt":
        "add_library(meshdeck_ui STATIC view.cpp)\n"
        "target_link_libraries(meshdeck_ui PUBLIC Qt6::Widgets meshdeck_controlplane_api)\n",
    "controlplane/fleet/demo.h": '#pragma once\n#include "controlplane/api/types.h"\n',
    "controlplane/fleet/CMakeLists.txt":
        "add_library(meshdeck_fleet STATIC demo.cpp)\n"
        "target_link_libraries(meshdeck_fleet PUBLIC meshdeck_controlplane_api\n"
        "  PRIVATE meshdeck_identity)\n",
    "proxy/main.cpp": "int main() {}\n",
    "app/main.cpp": "int main() {}\n",
}

# (rule, files) where the files, added to (or replacing files of) the clean tree, must break that rule.
VIOLATIONS = [
    ("ui-no-grpc", {"ui/hidden.h": '#pragma once\n#include <grpcpp/grpcpp.h>\n',
                   "ui/view.cpp": '#include "ui/view.h"\n#include "ui/hidden.h"\n'}),
    ("ui-no-grpc", {"ui/view.cpp": '#include "ui/view.h"\n#include "meshdeck/v1/mesh.pb.h"\n'}),
    ("ui-api-only", {"ui/view.cpp": '#include "ui/view.h"\n#include "controlplane/server/mesh_service.h"\n'}),
    ("core-no-qt", {"common/latency_histogram.h": "#pragma once\n#include <QString>\n"}),
    ("core-no-qt", {"proxy/x.h": "#pragma once\n#include <qtcore/qglobal.h>\n"}),
    ("core-no-qt", {"controlplane/x.cpp": '#include "ui/view.h"\n'}),
    ("link-ui", {"ui/CMakeLists.txt": "add_library(meshdeck_ui STATIC view.cpp)\n"
                                     "target_link_libraries(meshdeck_ui PRIVATE meshdeck_controlplane)\n"}),
    ("link-ui", {"common/CMakeLists.txt": "add_library(meshdeck_common STATIC a.cpp)\n"
                                          "target_link_libraries(meshdeck_common PUBLIC meshdeck_proto)\n"}),
    ("fleet-no-grpc", {"controlplane/fleet/demo.h": "#pragma once\n#include <grpcpp/grpcpp.h>\n"}),
    ("link-fleet", {"controlplane/fleet/CMakeLists.txt":
                    "add_library(meshdeck_fleet STATIC demo.cpp)\n"
                    "target_link_libraries(meshdeck_fleet meshdeck_controlplane)\n"}),
    ("link-core-no-qt", {"common/CMakeLists.txt": "add_library(meshdeck_common STATIC a.cpp)\n"
                                                 "target_link_libraries(meshdeck_common\n"
                                                 "  PRIVATE Qt6::Core)\n"}),
    ("thin-main", {"proxy/main.cpp": "\n" * (MAX_MAIN_LINES + 1)}),
    ("thin-main", {"app/composition.cpp": "\n" * MAX_APP_LINES}),
]


def write_tree(base, files):
    for path, text in files.items():
        full = os.path.join(base, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)


def self_test():
    failures = []
    with tempfile.TemporaryDirectory(prefix="check_layers.") as tmp:
        clean = os.path.join(tmp, "clean")
        write_tree(clean, CLEAN_TREE)
        errors, counts, _, _ = check(clean, quiet=True)
        if errors:
            failures.append(f"the clean tree fails: {errors}")
        for index, (rule, extra) in enumerate(VIOLATIONS):
            tree = os.path.join(tmp, f"bad{index}_{rule}")
            write_tree(tree, {**CLEAN_TREE, **extra})
            errors, _, _, _ = check(tree, quiet=True)
            if not any(e.startswith(rule + ":") for e in errors):
                failures.append(f"{rule}: not reported for {sorted(extra)} (got {errors})")
            elif main([sys.argv[0], "--no-self-test", tree], quiet=True) == 0:
                failures.append(f"{rule}: reported, but the exit status is 0")
    for f in failures:
        print("check_layers self-test FAILED:", f)
    if not failures:
        print(f"check_layers self-test: {len(VIOLATIONS)} planted violations caught, clean tree passes")
    return not failures


def main(argv, quiet=False):
    args = argv[1:]
    run_self_test = "--no-self-test" not in args
    args = [a for a in args if a != "--no-self-test"]
    if args == ["--self-test"]:
        return 0 if self_test() else 1
    if len(args) != 1:
        print(__doc__)
        return 2
    root = os.path.abspath(args[0])
    if run_self_test and not self_test():
        return 1
    errors, counts, ui_targets, _ = check(root, quiet=quiet)
    # A wrong root (or a renamed folder) would check nothing and pass: refuse that.
    empty = [top for top, n in counts.items() if n == 0]
    if empty or ui_targets == 0:
        if not quiet:
            print(f"check_layers: nothing to check in {empty or 'ui/ targets'} under {root}")
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
