"""Each library package builds as a wheel that installs and imports on its own."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UV = shutil.which("uv")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(UV is None, reason="uv is not on PATH"),
]


def _run(*args: str, cwd: Path = ROOT) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.parametrize(
    ("package", "module", "absent"),
    [
        ("viscy-data", "viscy_data", ("viscy_models", "dynaclr")),
        ("viscy-models", "viscy_models", ("viscy_data", "dynaclr")),
    ],
)
def test_wheel_installs_alone(tmp_path: Path, package: str, module: str, absent: tuple[str, ...]):
    dist = tmp_path / "dist"
    _run(UV, "build", "--package", package, "--wheel", "--out-dir", str(dist))
    wheels = sorted(dist.glob(f"{module}-*.whl"))
    assert len(wheels) == 1, f"expected one wheel for {package}, found {wheels}"

    # Pin third-party dependencies to the lockfile so the install is reproducible and cached.
    requirements = tmp_path / "requirements.txt"
    _run(
        UV,
        "export",
        "--frozen",
        "--package",
        package,
        "--no-emit-workspace",
        "--no-dev",
        "--no-hashes",
        "--output-file",
        str(requirements),
    )
    venv = tmp_path / "venv"
    _run(UV, "venv", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    _run(UV, "pip", "install", "--python", str(python), "-r", str(requirements), str(wheels[0]))

    probe = (
        "import importlib.util, sys\n"
        f"import {module}\n"
        f"assert {module}.__all__, 'empty public API'\n"
        f"for name in {module}.__all__: getattr({module}, name)\n"
        f"leaked = [m for m in {absent!r} if importlib.util.find_spec(m) is not None]\n"
        "assert not leaked, f'installed alongside: {leaked}'\n"
        f"print({module}.__file__)\n"
    )
    out = _run(str(python), "-c", probe, cwd=tmp_path)
    assert str(venv) in out, f"{module} was imported from outside the fresh venv: {out}"
