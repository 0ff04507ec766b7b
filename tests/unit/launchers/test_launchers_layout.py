"""The layout of launchers/: a package per program above the exec core, imports pointing down.

    launchers.kubexec, launchers.waitfor, launchers.k8sgo    the programs
    launchers.exec                                           the exec core and the
                                                             guard's wire format

Read from the sources with ast (every import, lazy ones inside functions too), so a
late `import` in a function cannot hide an upward edge or a cycle.
"""

from __future__ import annotations

import ast
import gc
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ROOT = REPO / "launchers"
PROGRAMS = ("launchers.kubexec", "launchers.waitfor", "launchers.k8sgo")
CORE = "launchers.exec"


def _name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_name(path): path for path in ROOT.rglob("*.py")}


def _target(module: str, name: str) -> str:
    """The module of ours an import names, or its package when it names an attribute."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports(module: str) -> set[str]:
    """The modules of launchers/ that `module` imports, anywhere in its body."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from P import x`: module P.x if there is one, else P itself (x is a name in P)
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {_target(module, n) for n in names if n.split(".")[0] == "launchers"}
    found.discard("")
    found.discard(module)
    return found


def _parse(path: Path) -> ast.Module:
    """ast.parse with the collector off: CPython 3.11 can fail a parse with "AST constructor
    recursion depth mismatch" when a finalizer (garbage of earlier tests) runs inside it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(path.read_text(), str(path))
    finally:
        if enabled:
            gc.enable()


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_launchers_holds_only_packages():
    """No program's files lie flat beside the packages any more."""
    assert sorted(p.name for p in ROOT.glob("*.py")) == ["__init__.py"]
    for package in (*PROGRAMS, CORE):
        assert package in MODULES, package


def test_the_exec_core_imports_nothing_above_it():
    for module in MODULES:
        if _within(module, CORE):
            above = {m for m in imports(module) if not _within(m, CORE)}
            assert not above, f"{module} imports upward: {sorted(above)}"


def test_a_program_imports_only_itself_and_the_exec_core():
    for program in PROGRAMS:
        for module in MODULES:
            if _within(module, program):
                others = {m for m in imports(module)
                          if not _within(m, program) and not _within(m, CORE)}
                assert not others, f"{module} imports another program: {sorted(others)}"


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of `graph` (module -> modules it imports), or []."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return path[path.index(module):] + [module]
        if module in done:
            return []
        for nxt in sorted(graph.get(module, ())):
            cycle = visit(nxt, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return []

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return []


def test_no_import_cycle_among_launchers_modules():
    cycle = find_cycle({module: imports(module) for module in MODULES})
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_checks_see_an_upward_import_and_a_cycle(tmp_path, monkeypatch):
    """What the checks above stand on: the reader finds a lazy upward import, a relative
    import and a cycle, in a made-up tree."""
    fake = tmp_path / "launchers"
    tree = {"": {}, "exec": {"core.py": "def f():\n    from launchers.kubexec import a\n"},
            "kubexec": {"a.py": "from . import b\n", "b.py": "import launchers.kubexec.a\n"}}
    for folder, files in tree.items():
        (fake / folder).mkdir(parents=True, exist_ok=True)
        (fake / folder / "__init__.py").write_text("")
        for name, text in files.items():
            (fake / folder / name).write_text(text)
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "REPO", tmp_path)
    monkeypatch.setattr(this, "MODULES", {_name(p): p for p in fake.rglob("*.py")})
    assert imports("launchers.exec.core") == {"launchers.kubexec.a"}
    graph = {module: imports(module) for module in this.MODULES}
    assert find_cycle(graph) == ["launchers.kubexec.a", "launchers.kubexec.b",
                                 "launchers.kubexec.a"]
