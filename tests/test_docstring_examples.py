"""Every ``>>>`` example in the source of viscy_data, viscy_models and dynaclr runs as written.

The modules are found by reading the source files (nothing is imported to list them); each
module that holds an example is one test, so a failure names the module. Its examples run as
``doctest`` runs them (``python -m doctest``): default option flags, the module's globals.
"""

import doctest
import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

PACKAGES = ("viscy_data", "viscy_models", "dynaclr")


def modules_with_examples(package: str) -> list[str]:
    """Dotted names of the modules of ``package`` whose source holds a ``>>>`` line."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    root = Path(next(iter(spec.submodule_search_locations)))
    names = []
    for path in sorted(root.rglob("*.py")):
        if path.stem == "__main__" or ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = [name for package in PACKAGES for name in modules_with_examples(package)]


def run_examples(module_name: str) -> tuple[doctest.TestResults, str]:
    """Run every docstring example of one module; the results and the failure report."""
    module = importlib.import_module(module_name)
    report: list[str] = []
    runner = doctest.DocTestRunner(verbose=False)
    for test in doctest.DocTestFinder().find(module, module_name):
        runner.run(test, out=report.append)
    return runner.summarize(verbose=False), "".join(report)


def test_every_package_has_examples():
    for package in PACKAGES:
        assert any(m.split(".")[0] == package for m in MODULES), f"no example found in {package}"


@pytest.mark.parametrize("module_name", MODULES)
def test_examples_run(module_name):
    results, report = run_examples(module_name)
    assert results.attempted > 0, f"{module_name} has '>>>' lines that doctest never finds"
    assert results.failed == 0, f"{results.failed} example(s) of {module_name} failed:\n{report}"


def test_a_wrong_output_fails(tmp_path, monkeypatch):
    """The check is not vacuous: an example whose output differs is reported as failed."""
    (tmp_path / "wrong_example.py").write_text(
        'def twice(x):\n    """Double.\n\n    >>> twice(2)\n    5\n    """\n    return 2 * x\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "wrong_example", raising=False)
    results, report = run_examples("wrong_example")
    del sys.modules["wrong_example"]
    assert results == (1, 1)
    assert "Expected:\n    5\nGot:\n    4" in report
