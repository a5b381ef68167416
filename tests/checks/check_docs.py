#!/usr/bin/python3
"""docs_test: the documentation's own rules.

1. docs/README.md links every page in docs/ (and links nothing that is not there).
2. Every top-level source folder has a README.md.
3. Every relative link in docs/*.md and the folder READMEs points at a file or folder that
   exists (anchors and web links are not checked).

Exit status 0 when all hold, 1 with one line per finding otherwise. With --self-test it first
plants each kind of finding in a scratch copy and fails unless each is reported.
"""
import os
import re
import shutil
import sys
import tempfile

TOP_FOLDERS = ["app", "bench", "common", "controlplane", "deploy", "docs", "packaging", "proto",
               "proxy", "resources", "scripts", "tests", "tools", "ui"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def findings(root):
    out = []
    docs = os.path.join(root, "docs")
    index_path = os.path.join(docs, "README.md")
    if not os.path.isfile(index_path):
        return ["docs/README.md is missing"]
    index = open(index_path, encoding="utf-8").read()
    linked = {l.split("#")[0] for l in LINK.findall(index) if not re.match(r"[a-z]+:", l)}
    pages = sorted(f for f in os.listdir(docs) if f.endswith(".md") and f != "README.md")
    for page in pages:
        if page not in linked and "./" + page not in linked:
            out.append(f"docs/README.md does not link docs/{page}")
    for folder in TOP_FOLDERS:
        if os.path.isdir(os.path.join(root, folder)) and \
                not os.path.isfile(os.path.join(root, folder, "README.md")):
            out.append(f"{folder}/ has no README.md")
    texts = [os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md")]
    texts += [os.path.join(root, f, "README.md") for f in TOP_FOLDERS]
    texts.append(os.path.join(root, "README.md"))
    for path in texts:
        if not os.path.isfile(path):
            continue
        base = os.path.dirname(path)
        for n, line in enumerate(open(path, encoding="utf-8"), 1):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target) or target.startswith("#"):
                    continue
                target = target.split("#")[0]
                if not os.path.exists(os.path.normpath(os.path.join(base, target))):
                    out.append(f"{os.path.relpath(path, root)}:{n}: link to {target}: no such file")
    return out


def self_test(root):
    scratch = tempfile.mkdtemp(prefix="check_docs.")
    try:
        copy = os.path.join(scratch, "tree")
        os.makedirs(copy)
        shutil.copytree(os.path.join(root, "docs"), os.path.join(copy, "docs"))
        for folder in TOP_FOLDERS:
            readme = os.path.join(root, folder, "README.md")
            if os.path.isfile(readme):
                os.makedirs(os.path.join(copy, folder), exist_ok=True)
                shutil.copy(readme, os.path.join(copy, folder, "README.md"))
        shutil.copy(os.path.join(root, "README.md"), os.path.join(copy, "README.md"))
        before = set(findings(copy))
        open(os.path.join(copy, "docs", "orphan-page.md"), "w").write("# orphan\n")
        with open(os.path.join(copy, "docs", "README.md"), "a") as f:
            f.write("\n[gone](no-such-page.md)\n")
        os.remove(os.path.join(copy, "tools", "README.md"))
        after = set(findings(copy)) - before
        expected = ["does not link docs/orphan-page.md", "link to no-such-page.md: no such file",
                    "tools/ has no README.md"]
        missing = [e for e in expected if not any(e in a for a in after)]
        if missing:
            print("check_docs self-test: not reported: " + "; ".join(missing))
            return False
        return True
    finally:
        shutil.rmtree(scratch)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), "../.."))
    if "--self-test" in sys.argv and not self_test(root):
        return 1
    out = findings(root)
    for line in out:
        print(line)
    if not out:
        print("check_docs: docs/README.md indexes every page; every folder has a README; "
              "every relative link resolves")
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
