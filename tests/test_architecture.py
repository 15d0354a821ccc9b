"""The layering of docs/ARCHITECTURE.md, enforced over the source's imports (ast, no imports run).

    functions/*/app.py → tally.api → tally.billing → tally.store / tally.presenters → tally.domain

Nothing imports upward, no HTTP resource module imports another, no module of `tally.billing` or
`tally.store` imports (at the top, in a function, or for type checking) one that imports it back,
and below the entry points nothing reads the wall clock: time is a `Clock` handed down.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import support

PACKAGE = support.REPO_ROOT / "layers" / "tally" / "tally"
FUNCTIONS = support.REPO_ROOT / "functions"
BASE = {"tally.errors", "tally.settings", "tally.ids", "tally.context", "tally.clock", "tally.observability"}

# What each layer may import from the package (besides itself).
ALLOWED = {
    "tally.domain": {"tally.errors"},
    "tally.presenters": {"tally.domain"},
    "tally.store": {
        "tally.domain",
        "tally.errors",
        "tally.settings",
        "tally.ids",
        "tally.context",
        "tally.clock",
    },
    "tally.billing": {"tally.domain", "tally.store", "tally.presenters"} | BASE,
    "tally.api": {"tally.billing", "tally.presenters", "tally.domain"} | BASE,
}
# api/ modules that are the HTTP machinery (every resource module may use them).
API_INFRASTRUCTURE = {"http", "params", "parsing", "routing", "lists", "auth", "forms", "expand"}
# The one sanctioned exception: the HTTP pipeline stores Idempotency-Key results (a Powertools
# persistence layer on DynamoDB), which is about requests, not billing.
EXCEPTIONS = {("tally.api.http", "tally.store.idempotency")}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module of `tally` that `path` imports anywhere: at the top, inside a function (a lazy
    import) or under `if TYPE_CHECKING:` (ast.walk sees them all); relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or node.level):
            module = _absolute(path, node) if node.level else str(node.module)
            for alias in node.names:  # `from tally.store import objects` imports tally.store.objects
                full = f"{module}.{alias.name}"
                found.add(full if full.startswith("tally") and _is_module(full) else module)
    return {name for name in found if name == "tally" or name.startswith("tally.")}


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    """The module a relative `from .x import y` in `path` names."""
    parts = _module_name(path).split(".")
    if path.name != "__init__.py":
        parts.pop()  # `.` is the module's package
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _layer(module: str) -> str | None:
    for layer in ALLOWED:
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").exists() or (PACKAGE / rel / "__init__.py").exists()


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_layer_imports_upward(path: Path):
    # GIVEN a module of the package WHEN reading what it imports
    module = _module_name(path)
    layer = _layer(module)
    allowed = (ALLOWED[layer] | {layer}) if layer else (BASE | {"tally"})
    # THEN every import of the package stays within what its layer may use
    bad = {
        name
        for name in _imports(path)
        if _is_module(name)
        and _layer(name) != layer
        and not any(name == a or name.startswith(a + ".") for a in allowed)
        and (module, name) not in EXCEPTIONS
    }
    assert bad == set(), f"{module} ({layer or 'base'}) may not import {sorted(bad)}"


def test_no_api_resource_module_imports_another():
    resources = {p.stem for p in (PACKAGE / "api").glob("*.py")} - API_INFRASTRUCTURE - {"__init__"}
    crossings = {
        (path.stem, name)
        for path in (PACKAGE / "api").glob("*.py")
        if path.stem in resources
        for name in _imports(path)
        if name.startswith("tally.api.") and name.split(".")[2] in resources - {path.stem}
    }
    assert crossings == set()


@pytest.mark.parametrize("path", sorted(FUNCTIONS.glob("*/app.py")), ids=lambda p: p.parent.name)
def test_entry_points_do_not_reach_the_store(path: Path):
    # Lambda entry points parse the trigger and call the api or billing layer, never the store.
    assert not {n for n in _imports(path) if n.startswith("tally.store")}


def _import_graph(paths: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules among `paths` it imports (anywhere in it: `_imports`)."""
    return {m: {n for n in _imports(p) if n in paths and n != m} for m, p in paths.items()}


def _a_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of `graph` as [a, b, …, a], or [] when it has none (depth first)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> list[str]:
        path.append(module)
        for name in sorted(graph[module]):
            if name in path:
                return [*path[path.index(name) :], name]
            if name not in done:
                found = visit(name)
                if found:
                    return found
        path.pop()
        done.add(module)
        return []

    for module in sorted(graph):
        found = visit(module) if module not in done else []
        if found:
            return found
    return []


@pytest.mark.parametrize("package", ["tally.billing", "tally.store"])
def test_no_import_cycle_within(package: str):
    # GIVEN every module of the package and the modules of it each imports, lazily included
    paths = {_module_name(p): p for p in MODULES if _module_name(p).startswith(package + ".")}
    # THEN they import one way (docs/ARCHITECTURE.md shows the order): no module imports, even
    # inside a function, a module that imports it back
    assert _a_cycle(_import_graph(paths)) == []


def _documented_rows(package: str, text: str) -> list[set[str]]:
    """The rows of docs/ARCHITECTURE.md's diagram of `package`'s modules, bottom row first
    (`usage/` names the package `usage` and every module in it)."""
    block = text.split(f"`{package}` —", 1)[1].split("```", 2)[1]
    rows: list[set[str]] = []
    for line in block.splitlines():
        if re.match(r"\s*\d+\s", line):
            rows.append(set())
        if rows:
            names = re.findall(r"(?:^\s*\d+\s+|·\s*)([a-z_]+)/?", line)
            rows[-1].update(f"{package}.{name}" for name in names)
    return rows[::-1]


def _unit(module: str) -> str:
    """A module, or the package (`tally.store.usage`) a nested module belongs to."""
    return ".".join(module.split(".")[:3])


@pytest.mark.parametrize("package", ["tally.billing", "tally.store"])
def test_the_documented_order_holds(package: str):
    # GIVEN the order docs/ARCHITECTURE.md shows (a module not shown yet is only held to no cycle)
    rows = _documented_rows(package, (support.REPO_ROOT / "docs" / "ARCHITECTURE.md").read_text())
    assert sum(len(row) for row in rows) == len(set().union(*rows)), "the diagram shows a module twice"
    paths = {_module_name(p): p for p in MODULES if _module_name(p).startswith(package + ".")}
    assert set().union(*rows) <= {_unit(m) for m in paths}, "the diagram names a module that does not exist"
    # THEN every module shown imports only modules shown in rows below its own
    assert _upward(rows, _import_graph(paths)) == set(), "(importer, imported) not below it in the diagram"


def _upward(rows: list[set[str]], graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) pairs of `graph` where the imported is not in a row below the importer's."""
    row_of = {m: i for i, row in enumerate(rows) for m in row}
    return {
        (_unit(m), _unit(n))
        for m, names in graph.items()
        for n in names
        if _unit(m) != _unit(n) and row_of.get(_unit(n), -1) >= row_of.get(_unit(m), len(rows))
    }


def test_the_cycle_check_can_fail(tmp_path: Path):
    # GIVEN invoices importing cycles, cycles importing reminders inside a function, and reminders
    # importing invoices only for type checking
    invoices, cycles, reminders = tmp_path / "invoices.py", tmp_path / "cycles.py", tmp_path / "reminders.py"
    invoices.write_text("from tally.billing import cycles\n")
    cycles.write_text("def close():\n    from tally.billing import reminders\n")
    reminders.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tally.billing.invoices\n"
    )
    graph = _import_graph(
        {
            "tally.billing.invoices": invoices,
            "tally.billing.cycles": cycles,
            "tally.billing.reminders": reminders,
        }
    )
    # THEN the check finds the circle; without the lazy import it finds none
    assert _a_cycle(graph) == [
        "tally.billing.cycles",
        "tally.billing.reminders",
        "tally.billing.invoices",
        "tally.billing.cycles",
    ]
    cycles.write_text("def close():\n    pass\n")
    assert _a_cycle(_import_graph({"tally.billing.invoices": invoices, "tally.billing.cycles": cycles})) == []
    # AND a diagram showing invoices below cycles (invoices imports cycles) or cycles beside
    # reminders (cycles imports reminders) is refused
    doc = "`tally.billing` — the order\n```\n  1  cycles · reminders\n  0  invoices\n```\n"
    rows = _documented_rows("tally.billing", doc)
    assert rows == [{"tally.billing.invoices"}, {"tally.billing.cycles", "tally.billing.reminders"}]
    assert _upward(rows, graph) == {
        ("tally.billing.invoices", "tally.billing.cycles"),
        ("tally.billing.cycles", "tally.billing.reminders"),
    }


WALL_CLOCK = {
    ("time", "time"),
    ("time", "time_ns"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("date", "today"),
}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_below_the_entry_points_reads_the_wall_clock(path: Path):
    # GIVEN a module WHEN looking for wall-clock reads THEN only clock.py has one, and only the
    # HTTP pipeline (the API's entry point) chooses the system clock
    tree = ast.parse(path.read_text())
    calls = {
        (node.func.value.id, node.func.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
    }
    module = _module_name(path)
    if module != "tally.clock":
        assert calls & WALL_CLOCK == set()
    if module != "tally.api.http":
        assert ("Clock", "system") not in calls


def test_the_checks_can_fail(tmp_path: Path):
    # GIVEN a domain module that imports the store and reads the wall clock THEN both rules see it
    bad = tmp_path / "bad.py"
    bad.write_text("import time\nfrom tally.store import objects\nnow = time.time()\n")
    assert "tally.store.objects" in _imports(bad)
    assert _layer("tally.domain.bad") == "tally.domain" and "tally.store" not in ALLOWED["tally.domain"]
