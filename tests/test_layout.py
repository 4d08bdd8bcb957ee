"""The library's layout: no private names across modules, no upward imports, no import circle.

An AST scan of ``physnn/**/*.py`` (nothing is imported), so it is fast and sees imports inside
functions too. The rules (DESIGN.md, "Target layout"):

- a module never imports a name starting with ``_`` from another physnn module, nor reads
  ``module._name`` of another one (private *modules*, such as ``physnn._validate``, are fine:
  their names are public within the package);
- a device module (``physnn/devices``) describes physics only: it imports none of simulate,
  delay, trajectory, train, codesign, parallel, checkpoint, cli, experiment;
- the modules' top-level imports form no cycle, and neither do all their imports with lazy ones
  (inside functions) counted, except reads of the package root (``from physnn import
  __version__``), which imports everything by design.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "physnn"
UPWARD = ("simulate", "delay", "trajectory", "train", "codesign", "parallel", "checkpoint", "cli",
          "experiment", "resonators")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def module_names(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """``{dotted module name: path}`` for every module of the package at ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


class Imports:
    """The physnn imports of one module: ``edges`` (target module, lazy?), the local names bound
    to physnn modules, and the violations of the private-name rule."""

    def __init__(self, name: str, path: pathlib.Path, modules: dict[str, pathlib.Path]):
        self.name, self.modules = name, modules
        self.package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        self.edges: list[tuple[str, bool]] = []
        self.bound: dict[str, str] = {}
        self.problems: list[str] = []
        self._visit(ast.parse(path.read_text()), lazy=False)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = self._resolve(node.value)
                if owner is not None and owner != self.name \
                        and f"{owner}.{node.attr}" not in modules:  # a private module is fine
                    self.problems.append(f"{name}:{node.lineno} reads {owner}.{node.attr}")

    def _visit(self, node, lazy):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for a in child.names:
                    if a.name.split(".")[0] == ROOT.name:
                        self._edge(a.name, lazy)
                        self.bound[a.asname or a.name.split(".")[0]] = (
                            a.name if a.asname else a.name.split(".")[0])
            elif isinstance(child, ast.ImportFrom):
                self._import_from(child, lazy)
            else:
                self._visit(child, lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                                      | ast.Lambda))

    def _import_from(self, node: ast.ImportFrom, lazy: bool):
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.split(".")[0] != ROOT.name:
            return
        for a in node.names:
            full = f"{target}.{a.name}"
            if full in self.modules:  # a module (private modules are fine)
                self._edge(full, lazy)
                self.bound[a.asname or a.name] = full
            else:
                self._edge(target, lazy)
                if _private(a.name) and target != self.name:
                    self.problems.append(f"{self.name}:{node.lineno} imports {a.name} from {target}")

    def _edge(self, target: str, lazy: bool):
        # importing a.b.c runs a.b's __init__ first, unless a.b is a package this module is in
        # (being initialised already); the root's is left out: it imports everything
        parts = target.split(".")
        for k in range(2, len(parts) + 1):
            prefix = ".".join(parts[:k])
            if k == len(parts) or not (self.name + ".").startswith(prefix + "."):
                self.edges.append((prefix, lazy))
        if target == ROOT.name:
            self.edges.append((target, lazy))

    def _resolve(self, expr) -> str | None:
        """The physnn module that ``expr`` (``V``, ``pn._validate``) names, or None."""
        if isinstance(expr, ast.Name):
            return self.bound.get(expr.id)
        if isinstance(expr, ast.Attribute):
            owner = self._resolve(expr.value)
            if owner is not None and f"{owner}.{expr.attr}" in self.modules:
                return f"{owner}.{expr.attr}"
        return None


def scan(root: pathlib.Path = ROOT) -> dict[str, Imports]:
    modules = module_names(root)
    return {name: Imports(name, path, modules) for name, path in modules.items()}


def private_uses(imports: dict[str, Imports]) -> list[str]:
    return [p for imp in imports.values() for p in imp.problems]


def upward_imports(imports: dict[str, Imports]) -> list[str]:
    root = ROOT.name
    bad = {f"{root}.{m}" for m in UPWARD}
    return [f"{name} imports {t}" for name, imp in imports.items()
            if name.startswith(f"{root}.devices") for t, _ in imp.edges if t in bad]


def find_cycle(imports: dict[str, Imports], *, lazy: bool) -> list[str] | None:
    """A cycle of module imports (top-level only, or with lazy ones too; edges into the package
    root are left out of the lazy graph), as a list of names, or None."""
    graph = {name: sorted({t for t, is_lazy in imp.edges if t != name and t in imports
                           and (not is_lazy or (lazy and t != ROOT.name))})
             for name, imp in imports.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in graph[n]:
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in graph:
        if n not in state and (found := visit(n)):
            return found
    return None


@pytest.fixture(scope="module")
def imports():
    return scan()


def test_no_private_names_across_modules(imports):
    assert private_uses(imports) == []


def test_devices_import_nothing_above_them(imports):
    assert upward_imports(imports) == []


@pytest.mark.parametrize("lazy", [False, True])
def test_no_import_cycle(imports, lazy):
    assert find_cycle(imports, lazy=lazy) is None


def test_the_scan_finds_what_the_old_layout_had(tmp_path):
    """The layout before the untangling (delay imported simulate's private helpers, simulate
    imported delay lazily, a device imported simulate, a device read ``V._concrete``): every
    rule fires."""
    pkg = tmp_path / ROOT.name
    (pkg / "devices").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .simulate import simulate\n")
    (pkg / "_validate.py").write_text("def _concrete(x):\n    return x\n")
    (pkg / "simulate.py").write_text(
        "from .devices._base import AbstractDevice\n"
        "def simulate(d):\n    from .delay import simulate_delay\n    return simulate_delay(d)\n"
        "def _check(x):\n    return x\n")
    (pkg / "delay.py").write_text(
        "def simulate_delay(d):\n    from .simulate import _check\n    return _check(d)\n")
    (pkg / "devices" / "__init__.py").write_text("from ._base import AbstractDevice\n")
    (pkg / "devices" / "_base.py").write_text("class AbstractDevice:\n    pass\n")
    (pkg / "devices" / "mechanical.py").write_text(
        "from .. import _validate as V\nimport physnn\n"
        "def sweep(d):\n    from ..simulate import simulate\n"
        "    return simulate(V._concrete(d)), physnn._validate._concrete(d)\n")
    old = scan(pkg)
    assert private_uses(old) == ["physnn.delay:2 imports _check from physnn.simulate",
                                 "physnn.devices.mechanical:5 reads physnn._validate._concrete",
                                 "physnn.devices.mechanical:5 reads physnn._validate._concrete"]
    assert upward_imports(old) == ["physnn.devices.mechanical imports physnn.simulate"]
    assert find_cycle(old, lazy=False) is None  # the circle was hidden by lazy imports
    assert set(find_cycle(old, lazy=True)) == {"physnn.delay", "physnn.simulate"}
    (pkg / "delay.py").write_text("from .simulate import _check\n")
    (pkg / "simulate.py").write_text("from .delay import _check\n")
    assert set(find_cycle(scan(pkg), lazy=False)) == {"physnn.delay", "physnn.simulate"}
