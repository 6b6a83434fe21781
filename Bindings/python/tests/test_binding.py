"""The binding against fake-eagled: types, errors, streaming, cancel, threads, library lookup."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List

import pytest

import eagle
from conftest import PACKAGE_DIR
from eagle import errors


@pytest.fixture()
def client(fake_socket: str):
    with eagle.Client(fake_socket, client_name="pytest") as c:
        yield c


def test_connect_via_env_and_hello(fake_socket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAGLE_SOCKET", fake_socket)
    with eagle.Client() as c:
        assert c.server_version == "fake-eagled 0"
        assert c.max_frame_bytes == 64 * 1024
        assert c.health() == eagle.Health(serving=True, models=3, draining=False)
    assert c.closed
    with pytest.raises(eagle.InvalidState):
        c.health()


def test_connect_errors(tmp_path: Path) -> None:
    with pytest.raises(eagle.ConnectError) as info:
        eagle.Client(tmp_path / "nothing.sock")
    assert "nothing.sock" in info.value.message
    assert info.value.code == -100
    assert isinstance(info.value, eagle.Unavailable)


def test_hello_refused(fake_socket: str) -> None:
    with pytest.raises(eagle.FailedPrecondition, match="go away"):
        eagle.Client(fake_socket, client_name="reject-me")
    with pytest.raises(eagle.ProtocolError, match="not eagled"):
        eagle.Client(fake_socket, client_name="bad-magic")


def test_models_and_admin_calls(client: eagle.Client) -> None:
    models = client.models()
    assert [m.name for m in models] == ["tiny", "plain", "slow"]
    tiny = models[0]
    assert tiny.has_draft and tiny.vocab_size == 256 and tiny.context_length == 64
    assert not models[1].has_draft and models[1].draft_dir == ""
    memory = client.model_memory("tiny")
    assert memory == eagle.ModelMemory("bf16", 4096, 3072, 512, 128) and memory.owned_weight_bytes == 1024
    assert client.model_memory("plain").draft_weight_bytes == 0
    with pytest.raises(eagle.NotFound):
        client.model_memory("nope")
    info = client.load_model("extra", "/models/extra")
    assert info.name == "extra" and info.target_dir == "/models/extra"
    with pytest.raises(eagle.PermissionDenied):
        client.load_model("extra", "/etc")
    with pytest.raises(eagle.AlreadyExists):
        client.load_model("tiny", "/models/x")
    client.unload_model("plain")
    with pytest.raises(eagle.NotFound, match="no such model"):
        client.unload_model("nope")


def test_tokenize_roundtrip(client: eagle.Client) -> None:
    ids = client.tokenize("Hi!")
    assert ids == [1, 72, 105, 33]
    assert client.tokenize("Hi", add_special_tokens=False) == [72, 105]
    assert client.tokenize("") == [1]
    assert client.detokenize(ids) == "Hi!"
    assert client.detokenize([]) == ""


def test_generate_result_and_stats(client: eagle.Client) -> None:
    r = client.generate("Once upon a time", max_tokens=5)
    assert isinstance(r, eagle.GenerateResult)
    assert len(r.ids) == 5 and r.stats.generated_tokens == 5
    assert r.text == "".join("w%d " % i for i in r.ids)
    assert r.stop_reason is eagle.StopReason.MAX_TOKENS
    assert r.stats.prompt_tokens == 17 and r.stats.steps == 5 and r.stats.mean_accepted == 1.0
    assert r.stats.tokens_per_second > 0
    assert client.generate("Once upon a time", max_tokens=5) == r
    cut = client.generate("Once upon a time", max_tokens=5, stop=["w%d" % r.ids[2]])
    assert cut.stop_reason is eagle.StopReason.STOP_STRING and r.text.startswith(cut.text)
    sampled = client.generate(tokens=[1, 2, 3], temperature=0.7, max_tokens=3)
    assert sampled.stats.seed == 42 and sampled.stats.prompt_tokens == 3
    chat = client.generate(chat=[("system", "be brief"), {"role": "user", "content": "hi"}], max_tokens=2)
    assert len(chat.ids) == 2
    stats = client.stats()
    assert stats.model("tiny").requests >= 4 and stats.uptime_seconds >= 0
    with pytest.raises(KeyError):
        stats.model("nope")


def test_stream(client: eagle.Client) -> None:
    s = client.stream("streaming", max_tokens=12)
    assert s.id > 1 and s.result is None
    chunks = list(s)
    assert len(chunks) == 12 and all(isinstance(c, eagle.Chunk) and c.accepted == 1 for c in chunks)
    assert s.result is not None and not s.cancelled
    assert "".join(c.text for c in chunks) == s.result.text
    assert [i for c in chunks for i in c.ids] == s.result.ids
    assert s.result == client.generate("streaming", max_tokens=12)
    assert list(s) == []  # exhausted


def test_stream_cancel_from_other_thread(client: eagle.Client) -> None:
    s = client.stream("long", model="slow", max_tokens=500)
    timer = threading.Timer(0.15, s.cancel)
    timer.start()
    n = sum(1 for _ in s)
    timer.join()
    assert s.cancelled and s.result is None
    assert 1 <= n < 100
    # The slot and the connection are fine afterwards.
    assert len(client.generate("after", max_tokens=2).ids) == 2


def test_client_cancel_all_and_by_id(client: eagle.Client) -> None:
    results: List[BaseException] = []

    def blocking() -> None:
        try:
            client.generate("wait", model="slow", max_tokens=500)
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            results.append(e)

    t = threading.Thread(target=blocking)
    t.start()
    s = client.stream("also", model="slow", max_tokens=500)
    next(s)
    time.sleep(0.1)
    client.cancel()
    t.join(10)
    assert not t.is_alive()
    assert len(results) == 1 and isinstance(results[0], eagle.Cancelled)
    assert list(s) == [] or s.cancelled
    assert s.cancelled

    s2 = client.stream("by id", model="slow", max_tokens=500)
    next(s2)
    client.cancel(s2.id)
    with pytest.raises(eagle.Cancelled):  # cancelled by id: the stream did not ask for it
        list(s2)


def test_stream_close_cancels(client: eagle.Client) -> None:
    with client.stream("closing", model="slow", max_tokens=500) as s:
        next(s)
    assert list(s) == []
    assert client.generate("next", max_tokens=1).ids


def test_server_errors_map_to_exceptions(client: eagle.Client) -> None:
    for code in range(1, 15):
        cls = eagle.error_class(-code)
        with pytest.raises(cls) as info:
            client.generate("error:%d" % code, max_tokens=1)
        assert info.value.code == -code and info.value.message == "injected error %d" % code
        assert type(info.value) is cls
    with pytest.raises(eagle.Unknown):
        client.generate("error:99")
    # The stream reports the same errors from its iteration.
    with pytest.raises(eagle.ResourceExhausted):
        list(client.stream("error:8"))


def test_bad_input(client: eagle.Client) -> None:
    with pytest.raises(eagle.NotFound, match="unknown model"):
        client.generate("x", model="no-such-model")
    with pytest.raises(eagle.InvalidArgument, match="temperature"):
        client.generate("x", temperature=-1.0)
    with pytest.raises(eagle.InvalidArgument, match="cap"):
        client.generate("x", max_tokens=5000)
    with pytest.raises(eagle.InvalidArgument, match="out of range"):
        client.generate(tokens=[1, 300])
    with pytest.raises(eagle.InvalidArgument, match="context"):
        client.generate("y" * 200)
    with pytest.raises(eagle.FailedPrecondition, match="no draft head"):
        client.generate("x", model="plain", eagle=True)
    # Caught before sending (code EAGLE_E_INVAL).
    local = [
        dict(max_tokens=-1),
        dict(max_tokens=0),  # libeagle would send it as unset; the daemon refuses an explicit 0
        dict(max_tokens=1 << 32),
        dict(top_k=-5),
        dict(seed=-1),
        dict(model=None),
    ]
    for kwargs in local:
        with pytest.raises(eagle.InvalidArgument) as info:
            client.generate("x", **kwargs)  # type: ignore[arg-type]
        assert info.value.code == -105
    with pytest.raises(eagle.InvalidArgument, match="exactly one"):
        client.generate()
    with pytest.raises(eagle.InvalidArgument, match="exactly one"):
        client.generate("x", tokens=[1])
    with pytest.raises(eagle.InvalidArgument):
        client.generate(tokens=[1, -2])
    with pytest.raises(eagle.InvalidArgument, match="NUL"):
        client.generate("a\0b")
    with pytest.raises(ValueError):  # InvalidArgument is a ValueError
        client.generate("x", temperature=-2)
    with pytest.raises(eagle.RequestTooLarge):
        client.generate("a" * 100_000)
    assert client.generate("fine", max_tokens=2).ids
    # max_tokens None is left unset: fake-eagled's default length, 8 (it refuses an explicit 0).
    assert len(client.generate("default length").ids) == 8
    assert len(client.generate("default length", max_tokens=None).ids) == 8


def test_connection_faults(fake_socket: str) -> None:
    for trigger, cls in (("oversize", eagle.ProtocolError), ("garbage", eagle.ProtocolError),
                         ("close", eagle.ConnectionLost), ("id0", eagle.Unavailable)):
        with eagle.Client(fake_socket) as c:
            with pytest.raises(cls):
                c.generate(trigger)
            with pytest.raises(eagle.ConnectionLost):
                c.health()


def test_threads_share_one_client_and_many_clients(fake_socket: str) -> None:
    prompts = ["prompt %d" % i for i in range(32)]
    with eagle.Client(fake_socket) as ref:
        expected = [ref.generate(p, max_tokens=6).text for p in prompts]
        with ThreadPoolExecutor(8) as pool:
            shared = list(pool.map(lambda p: ref.generate(p, max_tokens=6).text, prompts))
            streamed = list(pool.map(lambda p: "".join(c.text for c in ref.stream(p, max_tokens=6)), prompts))

    def own(p: str) -> str:
        with eagle.Client(fake_socket) as c:
            return c.generate(p, max_tokens=6).text

    with ThreadPoolExecutor(8) as pool:
        separate = list(pool.map(own, prompts))
    assert shared == expected and streamed == expected and separate == expected


def test_close_while_streaming_in_other_thread(fake_socket: str) -> None:
    c = eagle.Client(fake_socket)
    s = c.stream("x", model="slow", max_tokens=500)
    got: List[int] = []
    t = threading.Thread(target=lambda: got.append(sum(1 for _ in s)))
    t.start()
    time.sleep(0.1)
    c.close()  # cancels the stream, waits for the iterating thread's call, disconnects
    t.join(10)
    assert not t.is_alive() and s.cancelled
    c.close()  # idempotent


def test_error_classes() -> None:
    assert issubclass(eagle.ConnectError, eagle.Unavailable)
    assert issubclass(eagle.RequestTooLarge, eagle.InvalidArgument)
    assert issubclass(eagle.NotFound, LookupError)
    assert eagle.error_class(-12345) is eagle.EagleError
    e = errors.make_error(-105, "local")
    assert isinstance(e, eagle.InvalidArgument) and e.code == -105 and str(e) == "local"


def _run_python(code: str, env_extra: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_DIR))
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_library_override() -> None:
    lib = os.environ["EAGLE_LIBRARY"]
    ok = _run_python("import eagle; print(eagle.library_path()); print(eagle.library_version())", {"EAGLE_LIBRARY": lib})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == [lib, "0.3.0"]
    bad = _run_python("import eagle; eagle.Client('/nonexistent.sock')", {"EAGLE_LIBRARY": "/nonexistent/libeagle.so"})
    assert bad.returncode != 0 and "EAGLE_LIBRARY" in bad.stderr and "cannot load libeagle.so" in bad.stderr


def test_planted_library_in_a_parent_of_the_cwd_is_not_loaded(tmp_path: Path) -> None:
    """A libeagle.so in some `.build-c/lib` above the working directory (think /tmp) is
    neither a candidate nor loaded; its constructor would leave a marker file if it ran."""
    marker = tmp_path / "planted-ran"
    planted = tmp_path / ".build-c" / "lib"
    planted.mkdir(parents=True)
    source = tmp_path / "planted.c"
    source.write_text(
        '#include <stdio.h>\n'
        '__attribute__((constructor)) static void planted(void) {\n'
        '    FILE *f = fopen("%s", "w"); if (f) { fputs("ran", f); fclose(f); }\n}\n'
        'const char *eagle_version(void) { return "0.2.0"; }\n' % marker)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(planted / "libeagle.so"), str(source)], check=True)
    cwd = tmp_path / "work" / "deeper"
    cwd.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "EAGLE_LIBRARY"}
    env["PYTHONPATH"] = str(PACKAGE_DIR)
    code = (
        "import eagle._native as n\n"
        "print('\\n'.join(n._candidates()))\n"
        "try:\n    n.load(); print('LOADED', n.find_library())\n"
        "except OSError as e:\n    print('NOT LOADED', e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(cwd), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert str(planted / "libeagle.so") not in out.stdout
    assert not marker.exists(), "the planted library's constructor ran:\n" + out.stdout
