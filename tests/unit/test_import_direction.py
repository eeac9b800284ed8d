"""Dependencies point one way: surfaces -> api -> service -> store.

The import graph is read from the source with ``ast`` (every import, including those inside
functions and ``TYPE_CHECKING`` blocks, since a lazy import is still a dependency), so the
test needs nothing imported and names the file and line of each offending import.

Surfaces are the thin layers a user meets: the REST handlers, the widgets, the magics, the
command line (``cli.py`` at the top and in each subsystem) and the Jupyter server app that
wires them. Everything else is domain code, grouped by subsystem (a subpackage) or, for a
top-level module, by the module itself.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import lepton_jupyter

PACKAGE = Path(lepton_jupyter.__file__).parent
ROOT = "lepton_jupyter"

#: Top-level parts of the package that are surfaces (subpackages or modules).
SURFACE_PARTS = {"handlers", "widgets", "magics", "cli", "app"}
#: A module of this name inside a subsystem is that subsystem's command-line surface.
SURFACE_MODULES = {"cli", "__main__"}


@dataclass(frozen=True)
class Import:
    source: str  # dotted module that imports
    target: str  # dotted module imported
    where: str  # file:line

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    base = PACKAGE.parent.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path) -> list[Import]:
    """Every import of a module of this package that ``path`` makes."""
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            # ``from pkg import module`` imports the module; ``from module import name`` the module
            targets = [
                f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base
                for alias in node.names
            ]
        else:
            continue
        found.extend(
            Import(source, t, where) for t in targets if t == ROOT or t.startswith(ROOT + ".")
        )
    return found


@functools.cache
def all_imports() -> list[Import]:
    return [i for path in sorted(PACKAGE.rglob("*.py")) for i in imports_of(path)]


def is_surface(dotted: str) -> bool:
    """Whether a module is a surface; the package itself is one (it holds the entry points
    Jupyter and IPython load: the server app, the magics)."""
    parts = dotted.split(".")[1:]
    if not parts:
        return True
    return parts[0] in SURFACE_PARTS or (len(parts) > 1 and parts[-1] in SURFACE_MODULES)


def part_of(dotted: str) -> str:
    """The subsystem (or top-level module) a module belongs to."""
    parts = dotted.split(".")[1:]
    return parts[0] if parts else ROOT


def backward_imports(imports: list[Import]) -> list[str]:
    """The imports a domain module makes of a surface."""
    return [str(i) for i in imports if not is_surface(i.source) and is_surface(i.target)]


def test_domain_code_never_imports_a_surface():
    # Given every import a domain module makes
    backward = backward_imports(all_imports())
    # Then none reaches a handler, a widget, the magics, a command line or the app
    assert backward == [], "domain code imports a surface:\n" + "\n".join(backward)


def test_a_domain_import_of_a_widget_is_caught():
    # Given the job monitor's old edge (Job.monitor() built the widget itself) put back
    edge = Import("lepton_jupyter.jobs.api", "lepton_jupyter.widgets.jobs", "jobs/api.py:1")
    # Then the check names it
    assert backward_imports([*all_imports(), edge]) == [str(edge)]


def test_handlers_never_import_widgets():
    crossing = [
        str(i)
        for i in all_imports()
        if part_of(i.source) == "handlers" and part_of(i.target) == "widgets"
    ]
    assert crossing == [], "\n".join(crossing)


def subsystem_cycles(imports: list[Import]) -> list[str]:
    """Each pair of subsystems that reach each other through their domain modules' imports,
    with the imports along both routes."""
    edges: dict[str, dict[str, Import]] = defaultdict(dict)
    for i in imports:
        if is_surface(i.source) or is_surface(i.target):
            continue
        a, b = part_of(i.source), part_of(i.target)
        if a != b and a != ROOT and b != ROOT:
            edges[a].setdefault(b, i)
    cycles = []
    for a in sorted(edges):
        for b in sorted(_reachable(edges, a)):
            if a < b and a in _reachable(edges, b):
                path_ab, path_ba = _path(edges, a, b), _path(edges, b, a)
                cycles.append(f"{a} <-> {b}:\n  " + "\n  ".join(map(str, path_ab + path_ba)))
    return cycles


def test_no_cycles_between_subsystems():
    # Given the graph of subsystems, drawn from the imports their domain modules make
    cycles = subsystem_cycles(all_imports())
    # Then no two subsystems reach each other
    assert cycles == [], "subsystems import each other:\n" + "\n".join(cycles)


def test_a_cycle_put_back_is_caught():
    # Given the registry importing compare again (it did, for promotion gates), while
    # compare records comparisons through the registry's service
    edge = Import("lepton_jupyter.registry.service", "lepton_jupyter.compare.stats", "x.py:1")
    # Then the check names the pair and both routes
    (cycle,) = subsystem_cycles([*all_imports(), edge])
    assert cycle.startswith("compare <-> registry:") and str(edge) in cycle
    assert "lepton_jupyter.compare." in cycle.split(str(edge))[0]


def test_the_graph_sees_the_imports_it_checks():
    # The reader finds relative, absolute and lazy imports (so a pass above means something)
    found = {(i.source, i.target) for i in all_imports()}
    assert ("lepton_jupyter.handlers.registry", "lepton_jupyter.registry.service") in found
    assert ("lepton_jupyter.registry.api", "lepton_jupyter.pins") in found
    assert is_surface("lepton_jupyter.registry.cli") and is_surface("lepton_jupyter.widgets.jobs")
    assert not is_surface("lepton_jupyter.registry.service")


def _reachable(edges: dict[str, dict[str, Import]] | dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _path(edges: dict[str, dict[str, Import]], a: str, b: str) -> list[Import]:
    """The imports along one shortest route from subsystem ``a`` to ``b``."""
    previous: dict[str, tuple[str, Import]] = {}
    todo = [a]
    while todo and b not in previous:
        node = todo.pop(0)
        for nxt, imp in edges.get(node, {}).items():
            if nxt not in previous and nxt != a:
                previous[nxt] = (node, imp)
                todo.append(nxt)
    route = []
    node = b
    while node != a and node in previous:
        node, imp = previous[node]
        route.append(imp)
    return route[::-1]
