"""Fixtures: libeagle.so from the repo build, fake-eagled, and a live eagled on a temp socket.

- `fake_socket`: Tests/CClient/fake_server.c built into .build-c/tests and started once
  (needs cc and libprotobuf-c-dev).
- `daemon_socket`: the real eagled ($EAGLED, else .build/release/eagled, else
  .build/debug/eagled) serving $EAGLE_TEST_MODEL (default Models/tiny-pystd) as "tiny";
  the tests that use it are skipped, saying why, when either is missing, unless
  EAGLE_E2E_REQUIRED=1 makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional

import pytest


def _repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "Sources" / "Wire" / "eagle.proto").exists():
            return parent
    raise RuntimeError("tests must run from inside the eagled repository")


ROOT = _repo_root()
BUILD = Path(os.environ.get("BUILD", ROOT / ".build-c"))
PACKAGE_DIR = Path(__file__).resolve().parents[1]

# Test this source tree, not whatever `eagle` happens to be installed
# (test_install.py checks that `pip install` of it works).
sys.path.insert(0, str(PACKAGE_DIR))


def _ensure_library() -> None:
    """Builds libeagle.so unless EAGLE_LIBRARY points elsewhere; points the binding at it."""
    if os.environ.get("EAGLE_LIBRARY"):
        return
    subprocess.run(["make", "-s", "-C", str(ROOT / "Sources" / "CEagleClient"), "BUILD=%s" % BUILD], check=True)
    os.environ["EAGLE_LIBRARY"] = str(BUILD / "lib" / "libeagle.so")


_ensure_library()


def _wait_socket(path: Path, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s before creating %s" % (proc.returncode, path))
        time.sleep(0.05)
    raise RuntimeError("server did not create %s within %.0f s" % (path, timeout))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def tmp_sockets() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="eagle-pytest-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def fake_socket(tmp_sockets: Path) -> Iterator[str]:
    exe = BUILD / "tests" / "fake-eagled"
    sources = [ROOT / "Tests" / "CClient" / "fake_server.c", ROOT / "Sources" / "CEagleClient" / "eagle.pb-c.c"]
    if not exe.exists() or any(s.stat().st_mtime > exe.stat().st_mtime for s in sources):
        exe.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["cc", "-O1", "-g", "-std=c11", "-D_GNU_SOURCE", "-pthread", "-I%s" % (ROOT / "Include"), "-o", str(exe)]
            + [str(s) for s in sources]
            + ["-lprotobuf-c"],
            check=True,
        )
    path = tmp_sockets / "fake.sock"
    proc = subprocess.Popen([str(exe), "--socket", str(path)])
    try:
        _wait_socket(path, proc, 10)
        yield str(path)
    finally:
        _stop(proc)


# The live daemon's default generation length (for requests that leave max_tokens unset).
DAEMON_DEFAULT_MAX_TOKENS = 20


def _eagled_binary() -> Optional[Path]:
    env = os.environ.get("EAGLED")
    if env:
        return Path(env)
    for candidate in (ROOT / ".build" / "release" / "eagled", ROOT / ".build" / "debug" / "eagled"):
        if candidate.exists():
            return candidate
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("EAGLE_E2E_REQUIRED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def served_model_dir() -> Path:
    """The model directory the daemon fixture serves as "tiny" (also loadable at run time)."""
    return Path(os.environ.get("EAGLE_TEST_MODEL", ROOT / "Models" / "tiny-pystd")).resolve()


@pytest.fixture(scope="session")
def daemon_socket(tmp_sockets: Path) -> Iterator[str]:
    exe = _eagled_binary()
    if exe is None or not exe.exists():
        _skip_or_fail("eagled is not built (swift build --product eagled, or set EAGLED=path)")
    model = served_model_dir()
    if not model.is_dir():
        _skip_or_fail("test model %s is missing (set EAGLE_TEST_MODEL)" % model)
    path = tmp_sockets / "eagled.sock"
    log = open(tmp_sockets / "eagled.log", "w+")
    model = model.resolve()
    args: List[str] = [
        str(exe), "--socket", str(path), "--model", "tiny=%s,workers=2" % model, "--model-root", str(model.parent),
        "--default-max-tokens", str(DAEMON_DEFAULT_MAX_TOKENS),
    ]
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            _wait_socket(path, proc, 60)
        except RuntimeError as e:
            log.seek(0)
            raise RuntimeError("%s; log:\n%s" % (e, log.read())) from None
        yield str(path)
    finally:
        _stop(proc)
        log.close()
