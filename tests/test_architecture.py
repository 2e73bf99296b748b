"""The rooms of the house: imports flow one way, without cycles or private reach-ins.

Every module under the packages below is parsed with :mod:`ast` (nothing is imported) and
every ``import``/``from ... import`` in it, at the top or inside a function, becomes an edge
of the import graph. The test fails on any cycle, on an import against the flow (a package
importing one it may not, :data:`MAY_IMPORT`), and on a module using another module's
private (``_name``) name.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("geo", "api", "layers", "data", "cli")

MAY_IMPORT: dict[str, frozenset[str]] = {
    "geo": frozenset({"geo"}),
    "layers": frozenset({"layers", "geo"}),
    "data": frozenset({"data", "geo"}),
    "api": frozenset({"api", "geo", "layers"}),
    "cli": frozenset({"cli", "api", "geo", "data"}),
}
"""Which packages each package may import (README, "For engineers"): the domain ``geo``
imports no other; ``layers`` draws from geo's types and never touches the API; ``api`` is the
HTTP face over ``geo`` and ``layers``; ``cli`` may start the API and load the demo ``data``."""



@dataclass(frozen=True)
class Import:
    """One use of ``module`` (dotted, a project module) by ``importer``, and the name used
    from it (None for the module itself)."""

    importer: str
    module: str
    name: str | None
    line: int


def module_files() -> dict[str, Path]:
    """Dotted module name → file, for every module of :data:`PACKAGES`."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, modules: set[str]) -> Iterator[Import]:
    """Every project import in the module ``name`` (file ``path``), wherever it stands,
    and every attribute read through an imported module (``mapdata._frame``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _project(alias.name, modules):
                    aliases[alias.asname or alias.name] = alias.name
                    yield Import(name, _project(alias.name, modules) or "", None, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, is_package, node.module, node.level)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in modules:  # a submodule: from geo import mapdata
                    aliases[alias.asname or alias.name] = full
                    yield Import(name, full, None, node.lineno)
                elif _project(base, modules):
                    yield Import(name, _project(base, modules) or "", alias.name, node.lineno)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases):
            yield Import(name, aliases[node.value.id], node.attr, node.lineno)


def _absolute(importer: str, is_package: bool, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = importer.split(".")
    base = parts if is_package else parts[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _project(dotted: str, modules: set[str]) -> str | None:
    """The longest project module that ``dotted`` names or lies in, None outside."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def all_imports() -> list[Import]:
    files = module_files()
    return [imp for name, path in files.items() for imp in imports_of(name, path, set(files))]


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in module_files()}
    for imp in all_imports():
        if imp.module != imp.importer:
            edges[imp.importer].add(imp.module)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_parser_sees_imports_inside_functions() -> None:
    uses = {(imp.importer, imp.module, imp.name) for imp in all_imports()}
    assert ("api.app", "api.settings", "ApiSettings") in uses  # at the top
    assert ("cli.up", "data.demo", "load_demo") in uses  # inside prepare()
    assert ("api.routers.maps", "geo.mapdata", "area_or_default") in uses  # mapdata.<name>
    assert len(module_files()) > 60


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_flow_one_way() -> None:
    against = sorted(f"{imp.importer}:{imp.line} imports {imp.module}"
                     for imp in all_imports()
                     if imp.module.split(".")[0] not in MAY_IMPORT[imp.importer.split(".")[0]])
    assert against == []


def test_no_module_uses_another_modules_private_names() -> None:
    reach_ins = sorted(
        f"{imp.importer}:{imp.line} uses {imp.module}.{imp.name}" for imp in all_imports()
        if imp.name and imp.name.startswith("_") and not imp.name.startswith("__")
        and imp.module != imp.importer
)
    assert reach_ins == []
