"""The package's shape: small modules, no import cycle, explicit public APIs, no import side
effects, no module hidden by a function of the same name.

These are checked statically (reading the source with ``ast``) wherever possible, so that they
cover function-level imports as well as module-level ones.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tlcourse"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    """``{dotted module name: file}`` for every Python file of the package."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """tlcourse modules imported anywhere in a file (function bodies included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                found.add(candidate if candidate in MODULES else module)
    return {m for m in found if m in MODULES and m != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []
    counter = [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    return components


def test_no_import_cycle_in_the_package():
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_500_lines(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name].relative_to(ROOT)} has {lines} lines"


def _public(name: str) -> bool:
    leaf = MODULES[name].stem
    return not any(part.startswith("_") for part in name.split(".")[1:]) and leaf != "__main__"


@pytest.mark.parametrize("name", [n for n in sorted(MODULES) if _public(n)])
def test_every_public_module_declares_all(name):
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    declared = [
        node
        for node in tree.body
        if (
            isinstance(node, ast.Assign)
            and any(getattr(t, "id", "") == "__all__" for t in node.targets)
        )
        or (isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "__all__")
    ]
    assert declared, f"{name} has no __all__"


def test_no_submodule_is_shadowed_by_a_name_of_its_package():
    # `import tlcourse.compare` must give a module, never a function of the same name.
    shadowed = []
    for name, path in MODULES.items():
        if path.name != "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    bound = alias.asname or alias.name
                    submodule = f"{name}.{bound}"
                    origin = f"{node.module}.{alias.name}"
                    if submodule in MODULES and origin != submodule:
                        shadowed.append(f"{submodule} is shadowed by {origin}")
    assert shadowed == []


_SIDE_EFFECTS = """
import gc, json, logging, os, warnings
import matplotlib

def state():
    return {
        "filters": [repr(f) for f in warnings.filters],
        "backend": repr(dict.__getitem__(matplotlib.rcParams, "backend")),
        "root_level": logging.getLogger().level,
        "gc": [gc.isenabled(), list(gc.get_threshold()), gc.get_freeze_count()],
        "descriptors": {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in (0, 1, 2)},
    }

before = state()
# Keras itself imports pyplot (keras/src/visualization), which leaves the backend unresolved;
# what must not change is the backend setting itself.
import tlcourse
print(json.dumps({"before": before, "after": state()}))
"""


@pytest.mark.slow
def test_importing_tlcourse_changes_no_global_state(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", _SIDE_EFFECTS],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # Warnings filters, the garbage collector (enabled, thresholds, nothing frozen), the
    # standard file descriptors (no redirect), logging and matplotlib: as they were found.
    assert report["after"] == report["before"]
    assert report["after"]["gc"] == [True, [700, 10, 10], 0]
    assert list(tmp_path.iterdir()) == [], "importing tlcourse wrote into the working directory"
