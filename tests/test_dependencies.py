"""Each package declares exactly the third-party modules it imports.

Every module a package's source imports (at top level, in a function or under
``TYPE_CHECKING``) must be provided by a distribution its ``pyproject.toml`` declares (core
or an extra); every core dependency must be imported somewhere (a dependency nobody imports is
installed for nothing).
"""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "viscy_data": ROOT / "packages" / "viscy-data",
    "viscy_models": ROOT / "packages" / "viscy-models",
    "dynaclr": ROOT / "applications" / "dynaclr",
}


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalize(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


def imported_modules(source: Path) -> set[str]:
    """Top-level names of every module imported anywhere under ``source`` (absolute imports)."""
    found = set()
    for path in source.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names)


def declared(pyproject: Path) -> tuple[set[str], set[str]]:
    """(core, extras) distribution names of a ``pyproject.toml``, normalized."""
    project = tomllib.loads(pyproject.read_text())["project"]
    core = {_requirement_name(r) for r in project.get("dependencies", [])}
    extras = {
        _requirement_name(r)
        for group in project.get("optional-dependencies", {}).values()
        for r in group
    }
    return core, extras


OPTIONAL_MODULES = {"umap": "umap-learn"}
"""Modules of optional extras, which the default environment does not install (so
``packages_distributions`` cannot map them): module -> the distribution that provides it."""


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_declared_dependencies_match_imports(package):
    folder = PACKAGES[package]
    core, extras = declared(folder / "pyproject.toml")
    # Workspace members are installed editable, which packages_distributions() does not map.
    providers = {**packages_distributions(), **{m: [f.name] for m, f in PACKAGES.items()}}
    imported = {}
    for module in imported_modules(folder / "src" / package) - {package}:
        distributions = providers.get(module)
        if not distributions and OPTIONAL_MODULES.get(module) in extras:
            distributions = [OPTIONAL_MODULES[module]]  # an extra, not installed here
        assert distributions, f"{package} imports {module!r}, which no installed package provides"
        imported[module] = {_normalize(d) for d in distributions}
    undeclared = {m: d for m, d in imported.items() if not d & (core | extras)}
    assert not undeclared, (
        f"{package} imports modules its pyproject.toml does not declare: {undeclared}"
    )
    used = set().union(*imported.values())
    unused = core - used
    assert not unused, f"{package} declares dependencies it never imports: {sorted(unused)}"


def test_the_checks_see_imports_inside_functions(tmp_path):
    (tmp_path / "m.py").write_text(
        "def f():\n    import polars.selectors\n    from yaml import dump\n"
    )
    assert imported_modules(tmp_path) == {"polars", "yaml"}
