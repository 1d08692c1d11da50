"""One-off, for merging branches written before the struct-layout restructuring: rewrites import lines that
name a moved module (``usecases.deployment_services`` -> ``usecases.services.deployments``, ``tests.deployments``
-> ``tests.usecases.deployments``, ``pipelines.routing`` -> ``budportal.routing``, ...). Only lines that start
with ``from``/``import`` (and ``monkeypatch.setattr("usecases....`` strings) change. Run from the repository root
after the merge: ``.venv/bin/python scripts/rewrite_moved_imports.py``, review ``git diff``, then delete this
file (it describes a move that has happened)."""

import re
import subprocess

USECASES = {  # old module in usecases -> (layer package, domain module)
    "models_deployments": ("models", "deployments"),
    "services": ("services", "templates"),
    "deployment_services": ("services", "deployments"),
    "selectors": ("selectors", "templates"),
    "deployment_selectors": ("selectors", "deployments"),
    "schemas": ("schemas", "templates"),
    "deployment_schemas": ("schemas", "deployments"),
    "api": ("api", "templates"),
    "deployment_api": ("api", "deployments"),
    "views": ("views", "templates"),
    "deployment_views": ("views", "deployments"),
    "template_validation": ("validation", "templates"),
    "deployment_validation": ("validation", "deployments"),
}
MODULES = {  # whole-module moves, dotted
    "tests.deployments": "tests.usecases.deployments",
    "tests.usecases.conftest": "tests.usecases.templates.conftest",
    "pipelines.routing": "budportal.routing",
    "clusterjobs.actions.deployment_create": "usecases.actions.deployment_create",
    "usecases.forms": "usecases.drafts",
    "clusterjobs.standin.selectors": "clusterjobs.standin.label_selectors",
}
NOTIFICATION_NAMES = {"notification_create", "notification_mark_read"}  # pipelines.services -> pipelines.notifications


def rewrite(line: str, path: str) -> list[str]:
    m = re.match(r"^(\s*)from usecases\.(\w+) import (.*)$", line)
    names = {n.split(" as ")[0].strip() for n in m.group(3).split(",")} if m else set()
    # Already the new layout (``from usecases.services import templates as services``), or ambiguous
    # (``from usecases.api import router`` is now both routers: resolve budportal/api.py by hand).
    if m and m.group(2) in USECASES and not names <= {"templates", "deployments", "router"}:
        pkg, mod = USECASES[m.group(2)]
        return [f"{m.group(1)}from usecases.{pkg}.{mod} import {m.group(3)}"]
    m = re.match(r"^(\s*)from usecases import (.*?)(\s+#.*)?$", line)
    if m and "(" not in m.group(2):
        indent, names, comment = m.group(1), m.group(2), m.group(3) or ""
        keep, out = [], []
        for item in (n.strip() for n in names.split(",")):
            name, _, alias = item.partition(" as ")
            if name.strip() in USECASES:
                pkg, mod = USECASES[name.strip()]
                out.append(f"{indent}from usecases.{pkg} import {mod} as {(alias or name).strip()}")
            else:
                keep.append(item)
        if out:
            lines = sorted(([f"{indent}from usecases import {', '.join(keep)}"] if keep else []) + out)
            lines[-1] += comment
            return lines
    m = re.match(r"^(\s*)from pipelines\.services import (.*?)(\s+#.*)?$", line)
    if m and "(" not in m.group(2):
        names = [n.strip() for n in m.group(2).split(",")]
        moved = [n for n in names if n.split(" as ")[0] in NOTIFICATION_NAMES]
        if moved:
            rest = [n for n in names if n not in moved]
            lines = [f"{m.group(1)}from pipelines.notifications import {', '.join(moved)}"]
            if rest:
                lines.append(f"{m.group(1)}from pipelines.services import {', '.join(rest)}")
            lines[-1] += m.group(3) or ""
            return lines
    if path.startswith("clusterjobs/standin/"):
        line = re.sub(r"^(\s*)from \.selectors import", r"\1from .label_selectors import", line)
    for old, new in MODULES.items():
        if re.match(rf"^\s*(from|import) {re.escape(old)}(\.| |$)", line):
            return [line.replace(old, new, 1)]
    m = re.search(r"""(setattr\(["'])usecases\.(\w+)\.""", line)
    if m and m.group(2) in USECASES:
        pkg, mod = USECASES[m.group(2)]
        return [line.replace(f"usecases.{m.group(2)}.", f"usecases.{pkg}.{mod}.", 1)]
    return [line]


def main() -> None:
    files = subprocess.run(["git", "ls-files", "*.py"], capture_output=True, text=True, check=True).stdout.split()
    for path in files:
        if "/migrations/" in path or path == "scripts/rewrite_moved_imports.py":
            continue
        source = open(path).read()
        new = "\n".join(out for line in source.split("\n") for out in rewrite(line, path))
        if new != source:
            open(path, "w").write(new)
            print("rewrote", path)


if __name__ == "__main__":
    main()
