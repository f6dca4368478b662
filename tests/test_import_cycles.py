"""Imports among the app's own modules point one way: no module of web/ or desktop_app/
imports, however indirectly, one that imports it back (desktop_app uses web, never the
other way round).

Every import counts, a lazy one inside a function too: it still ties the two modules
together, and a circle only waits for someone to move that import to the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("web", "desktop_app")

Graph = dict[str, set[str]]


def modules(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The known modules that `name` imports (the most specific module each import names)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..tasks import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from web.tasks import engine` imports the module web.tasks.engine.
            targets |= {f"{base}.{alias.name}" for alias in node.names} | {base}
    resolved = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def import_graph(*packages: str) -> Graph:
    found = {name: path for package in packages for name, path in modules(package).items()}
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(graph: Graph) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycles() -> None:
    # One graph for both: desktop_app uses web, so web importing desktop_app is a circle too.
    graph = import_graph(*PACKAGES)
    for package in PACKAGES:
        assert any(name.startswith(f"{package}.") for name in graph), f"no modules in {package}/"
    found = cycles(graph)
    assert found == [], (
        "modules that import each other, directly or through others: "
        "move what they share into a module of its own"
    )


def test_the_cycle_finder_finds_a_circle_of_three_and_a_lazy_import() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    # As desktop_app was: browser -> launcher, window -> launcher, launcher -> both (lazily).
    before = {
        "desktop_app.browser": {"desktop_app.launcher"},
        "desktop_app.window": {"desktop_app.launcher"},
        "desktop_app.launcher": {"desktop_app.browser", "desktop_app.window"},
    }
    assert cycles(before) == [sorted(before)]


def test_imports_are_resolved_to_the_modules_they_name() -> None:
    graph = import_graph(*PACKAGES)
    assert "desktop_app.front" in graph["desktop_app.window"]
    assert "desktop_app.window" in graph["desktop_app.launcher"]  # imported inside main()
    assert "web.app" in graph["desktop_app.hosting"]
    assert "web.tasks.engine" in graph["web.app"]
    assert "web" in graph["web.app"]  # from web import __version__ (the package itself)
    assert "pytest" not in graph["desktop_app.hosting"]  # third-party: not ours to follow
