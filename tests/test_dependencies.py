"""Every dependency pyproject.toml declares is one the code uses, and every package the code
imports is declared: an unused or unknown package is a supply-chain risk, and an undeclared
one works only by the luck of another package pulling it in."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Where the project's own code is; examples/ has a pyproject.toml of its own.
CODE_DIRS = ("web", "desktop_app", "tests", "bench")
CODE_FILES = ("build.spec",)

# Declared but used without an import statement, each with the reason.
USED_WITHOUT_IMPORT = {
    "jinja2": "fastapi.templating.Jinja2Templates imports it (web/pages.py)",
    "ruff": "a command: the linter and formatter",
}

REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def normalize(name: str) -> str:
    """PEP 503: `PyGObject`, `pygobject` and `py_gobject` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(requirement: str) -> tuple[str, set[str]]:
    """'uvicorn[standard]>=0.30' -> ('uvicorn', {'standard'})."""
    match = REQUIREMENT.match(requirement)
    assert match, f"cannot read the requirement {requirement!r}"
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return normalize(match.group(1)), extras


def declared_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    return [*project.get("dependencies", []), *(r for group in extras for r in group)]


def own_name() -> str:
    return normalize(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"])


def pulled_by_extras(name: str, extras: set[str]) -> set[str]:
    """What `name[extras]` installs besides `name`: declaring the extra declares these."""
    try:
        wanted = requires(name) or []
    except PackageNotFoundError:
        return set()
    pulled = set()
    for requirement in wanted:
        marker = EXTRA_MARKER.search(requirement.partition(";")[2])
        if marker and marker.group(1) in extras:
            pulled.add(parse(requirement)[0])
    return pulled


def code_files() -> Iterable[Path]:
    for folder in CODE_DIRS:
        yield from (ROOT / folder).rglob("*.py")
    for name in CODE_FILES:
        yield ROOT / name


def optional_imports(tree: ast.AST) -> set[ast.AST]:
    """Imports inside `try: ... except ImportError:`: the code works without them."""
    optional: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
            for h in node.handlers
        ):
            optional |= {n for stmt in node.body for n in ast.walk(stmt)}
    return optional


@cache
def imported_modules() -> dict[str, set[str]]:
    """Top-level module -> the files that import it (absolute imports, any depth)."""
    found: dict[str, set[str]] = {}
    for path in code_files():
        tree = ast.parse(path.read_text(), str(path))
        optional = optional_imports(tree)
        for node in ast.walk(tree):
            if node in optional:
                continue
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                found.setdefault(module.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def import_names(distribution: str) -> set[str]:
    """The top-level modules an installed distribution provides."""
    names = {
        module
        for module, dists in packages_distributions().items()
        if distribution in {normalize(d) for d in dists}
    }
    return names or {distribution.replace("-", "_")}


def test_every_declared_dependency_is_used() -> None:
    imported = imported_modules()
    unused = []
    for requirement in declared_requirements():
        name, _ = parse(requirement)
        if name == own_name() or name in USED_WITHOUT_IMPORT:
            continue
        if not import_names(name) & imported.keys():
            unused.append(f"{requirement} (provides {sorted(import_names(name))})")
    assert unused == [], (
        "declared in pyproject.toml but imported nowhere in "
        f"{', '.join(CODE_DIRS)}: remove them, or say in USED_WITHOUT_IMPORT why they stay"
    )


def test_every_imported_package_is_declared() -> None:
    declared = set()
    for requirement in declared_requirements():
        name, extras = parse(requirement)
        declared |= {name, *pulled_by_extras(name, extras)}
    own = {*CODE_DIRS, "__future__"}
    providers = packages_distributions()
    undeclared = []
    for module, files in sorted(imported_modules().items()):
        if module in sys.stdlib_module_names or module in own:
            continue
        dists = {normalize(d) for d in providers.get(module, [])}
        if not dists & declared:
            undeclared.append(
                f"{module} (from {sorted(dists) or 'nothing installed'}) in {sorted(files)[:3]}"
            )
    assert undeclared == [], "imported but not declared in pyproject.toml"


def test_the_checks_read_requirements_as_pip_does() -> None:
    assert parse("uvicorn[standard]>=0.30") == ("uvicorn", {"standard"})
    assert parse("pywebview[gtk, qt]>=5 ; python_version>'3'") == ("pywebview", {"gtk", "qt"})
    assert parse("PyGObject") == ("pygobject", set())
    assert normalize("typing_extensions") == normalize("Typing.Extensions")
