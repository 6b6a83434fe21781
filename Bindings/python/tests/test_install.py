"""`pip install ./Bindings/python` gives an importable, typed `eagle` package."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from conftest import PACKAGE_DIR


def test_pip_install_into_target(tmp_path: Path, fake_socket: str) -> None:
    target = tmp_path / "site"
    # Without build isolation when setuptools and wheel are at hand (Tools/install-deps.sh
    # installs both): then no package index is needed. setuptools < 70.1 cannot build a
    # wheel without the `wheel` package, so with either missing let pip fetch them.
    local = all(importlib.util.find_spec(m) is not None for m in ("setuptools", "wheel"))
    isolation = ["--no-build-isolation"] if local else []
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", *isolation, "--no-deps",
         "--target", str(target), str(PACKAGE_DIR)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "eagle" / "py.typed").exists()
    code = (
        "import eagle, sys\n"
        "assert eagle.__file__.startswith(sys.argv[1]), eagle.__file__\n"
        "with eagle.Client(sys.argv[2]) as c:\n"
        "    print(c.generate('installed', max_tokens=2).ids)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(target))
    run = subprocess.run([sys.executable, "-c", code, str(target), fake_socket], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert len(eval(run.stdout)) == 2
