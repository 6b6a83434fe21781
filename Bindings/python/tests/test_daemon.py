"""The binding against a live eagled (started by the daemon_socket fixture, model "tiny").

Concurrent clients match sequential runs, a cancel mid-stream frees its slot, and bad
input gets its documented status while another client keeps being served.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Tuple, Type

import pytest

import eagle
from conftest import DAEMON_DEFAULT_MAX_TOKENS, served_model_dir

PROMPTS = [
    "def fibonacci(n):",
    "import os\n",
    "class Stack:",
    "for i in range(10):",
    "def main():",
    "x = [1, 2, 3]\n",
    "# compute the sum",
    "while True:",
    "def add(a, b):",
    "print(",
]


def request(i: int) -> Dict[str, Any]:
    """The i-th test request: greedy for even i, seeded sampling for odd i."""
    kw: Dict[str, Any] = dict(prompt=PROMPTS[i % len(PROMPTS)], max_tokens=10 + (i % 3) * 4)
    if i % 2:
        kw.update(temperature=0.8, top_k=40, seed=500 + i)
    return kw


@pytest.fixture(scope="module")
def client(daemon_socket: str):
    with eagle.Client(daemon_socket, client_name="pytest-e2e") as c:
        yield c


@pytest.fixture(scope="module")
def model(client: eagle.Client) -> eagle.ModelInfo:
    return client.models()[0]


def test_hello_health_models(client: eagle.Client, model: eagle.ModelInfo) -> None:
    assert client.server_version
    assert client.max_frame_bytes >= 64 * 1024
    h = client.health()
    assert h.serving and h.models >= 1 and not h.draining
    assert model.name == "tiny"
    assert model.vocab_size > 0 and model.context_length > 0 and model.layers > 0


def test_tokenize_roundtrip(client: eagle.Client, model: eagle.ModelInfo) -> None:
    ids = client.tokenize("def fibonacci(n):", add_special_tokens=False)
    assert ids and all(0 <= i < model.vocab_size for i in ids)
    assert "fibonacci" in client.detokenize(ids)


def test_generate_and_stream_agree(client: eagle.Client) -> None:
    for i in range(2):
        r = client.generate(**request(i))
        assert 0 < len(r.ids) <= request(i)["max_tokens"]
        assert r.stats.prompt_tokens > 0 and r.stats.steps > 0 and r.stats.mean_accepted >= 1
        s = client.stream(**request(i))
        chunks = list(s)
        assert s.result == r or (s.result is not None and s.result.text == r.text and s.result.ids == r.ids)
        assert "".join(c.text for c in chunks) == r.text
        assert [t for c in chunks for t in c.ids] == r.ids
    seeded = client.generate(**request(1))
    assert seeded.stats.seed == 501


def test_eight_clients_at_once_match_one_by_one(daemon_socket: str, client: eagle.Client) -> None:
    n_clients, per_client = 8, 2

    def run(k: int) -> List[str]:
        out = []
        with eagle.Client(daemon_socket, client_name="worker-%d" % k) as c:
            for j in range(per_client):
                kw = request(k * per_client + j)
                if j % 2:
                    s = c.stream(**kw)
                    text = "".join(ch.text for ch in s)
                    assert s.result is not None and s.result.text == text
                    out.append(text)
                else:
                    out.append(c.generate(**kw).text)
        return out

    t0 = time.monotonic()
    with ThreadPoolExecutor(n_clients) as pool:
        concurrent = [t for texts in pool.map(run, range(n_clients)) for t in texts]
    t1 = time.monotonic()
    sequential = [client.generate(**request(i)).text for i in range(n_clients * per_client)]
    print("%d requests: concurrently %.2f s, one by one %.2f s" % (len(sequential), t1 - t0, time.monotonic() - t1))
    assert concurrent == sequential


def test_threads_sharing_one_client(client: eagle.Client) -> None:
    with ThreadPoolExecutor(8) as pool:
        shared = list(pool.map(lambda i: client.generate(**request(i)).text, range(8)))
    assert shared == [client.generate(**request(i)).text for i in range(8)]


def _busy(client: eagle.Client) -> int:
    return sum(m.active + m.queued for m in client.stats().models)


def test_cancel_mid_stream_frees_the_slot(daemon_socket: str, client: eagle.Client, model: eagle.ModelInfo) -> None:
    long: Dict[str, Any] = dict(
        prompt="def long_function():", max_tokens=max(32, model.context_length - 32), ignore_eos=True
    )
    with eagle.Client(daemon_socket) as c:
        streams = [c.stream(**long) for _ in range(2)]  # both worker slots
        for s in streams:
            next(s)
            s.cancel()
        for s in streams:
            rest = sum(1 for _ in s)
            # Ended by the cancel, not by finishing its ~1000 tokens.
            assert s.cancelled and s.result is None, "finished before the cancel arrived"
            print("%d chunks arrived after the cancel" % rest)
        deadline = time.monotonic() + 2
        while _busy(client) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _busy(client) == 0
        r = c.generate(**request(0))
        assert r.stats.queue_seconds < 0.5

        # Cancel by request id from another thread while this one iterates.
        s = c.stream(**long)
        next(s)
        threading.Timer(0.05, lambda: c.cancel(s)).start()
        list(s)
        assert s.cancelled
        with pytest.raises(eagle.NotFound):
            c.cancel(987654321)


def test_bad_input_while_others_are_served(daemon_socket: str, model: eagle.ModelInfo) -> None:
    stop = threading.Event()
    served: List[str] = []
    failures: List[BaseException] = []

    def background() -> None:
        with eagle.Client(daemon_socket, client_name="background") as c:
            while not stop.is_set():
                try:
                    served.append(c.generate(**request(0)).text)
                except BaseException as e:  # noqa: BLE001 - reported below
                    failures.append(e)

    def wait_served(n: int) -> None:
        deadline = time.monotonic() + 30
        while len(served) < n and not failures and time.monotonic() < deadline:
            time.sleep(0.01)

    t = threading.Thread(target=background)
    t.start()
    try:
        wait_served(1)
        with eagle.Client(daemon_socket, client_name="bad-input") as c:
            cases: List[Tuple[Type[eagle.EagleError], Dict[str, Any]]] = [
                (eagle.NotFound, dict(prompt="x", model="no-such-model")),
                (eagle.InvalidArgument, dict(prompt="x", temperature=-1.0)),
                (eagle.InvalidArgument, dict(prompt="x", top_p=1.5)),
                (eagle.InvalidArgument, dict(prompt="x", max_tokens=1 << 30)),
                (eagle.InvalidArgument, dict(tokens=[1, model.vocab_size + 5])),
                (eagle.InvalidArgument, dict(tokens=[5] * (model.context_length + 8))),
                (eagle.InvalidArgument, dict(tokens=[])),
                (eagle.InvalidArgument, dict(prompt="")),
                (eagle.InvalidArgument, dict(prompt="x", max_tokens=-1)),  # local
                (eagle.InvalidArgument, dict(prompt="x", max_tokens=0)),  # local, like the daemon
            ]
            if not model.has_draft:
                cases.append((eagle.FailedPrecondition, dict(prompt="x", eagle=True)))
            for cls, kw in cases:
                with pytest.raises(cls) as info:
                    c.generate(**kw)
                assert info.value.message
                print("%s -> %s: %s" % (kw, type(info.value).__name__, info.value.message))
                with pytest.raises(cls):
                    list(c.stream(**kw))
            # max_tokens left unset (None) is the daemon's default length.
            unset = c.generate(prompt="def f():", ignore_eos=True)
            assert len(unset.ids) == DAEMON_DEFAULT_MAX_TOKENS
            explicit_none = c.generate(prompt="def f():", max_tokens=None, ignore_eos=True)
            assert explicit_none.ids == unset.ids
            assert c.health().serving
        # The other client was served before, and keeps being served after.
        before = len(served)
        assert before >= 1
        wait_served(before + 2)
        assert len(served) >= before + 2
    finally:
        stop.set()
        t.join(60)
    assert not failures, failures
    assert served and all(text == served[0] for text in served)


def test_eagle_is_lossless_or_refused(client: eagle.Client, model: eagle.ModelInfo) -> None:
    if not model.has_draft:
        with pytest.raises(eagle.FailedPrecondition):
            client.generate("x", eagle=True)
        return
    for i in (0, 2, 4):
        kw = request(i)
        plain = client.generate(**kw)
        fast = client.generate(**kw, eagle=True)
        assert fast.text == plain.text and fast.ids == plain.ids
        assert fast.stats.mean_accepted >= 1
        # What ran and why: plain was requested; EAGLE with no tree fields is the daemon's choice.
        assert (plain.stats.decoding, plain.stats.decoding_reason) == ("plain", "requested")
        assert fast.stats.decoding and fast.stats.decoding_reason.startswith("automatic: ")


def test_load_unload(client: eagle.Client, model: eagle.ModelInfo) -> None:
    info = client.load_model("second", str(served_model_dir()))
    assert info.name == "second" and info.vocab_size == model.vocab_size
    try:
        with pytest.raises(eagle.AlreadyExists):
            client.load_model("second", str(served_model_dir()))
        with pytest.raises(eagle.PermissionDenied, match="outside the model root"):
            client.load_model("third", "/etc")
        assert sorted(m.name for m in client.models()) == ["second", "tiny"]
        with pytest.raises(eagle.InvalidArgument, match="dtype"):
            client.load_model("wide", str(served_model_dir()), dtype="fp8")
        client.load_model("wide", str(served_model_dir()), dtype="f32")
        try:
            narrow, wide = client.model_memory("second"), client.model_memory("wide")
            assert (narrow.dtype, wide.dtype) == ("bf16", "f32")
            assert 0 < narrow.weight_bytes < wide.weight_bytes and wide.mapped_weight_bytes == 0
            assert narrow.kv_bytes_per_token == wide.kv_bytes_per_token > 0
        finally:
            client.unload_model("wide")
        same = client.generate(**request(0), model="second")
        ref = client.generate(**request(0))
        assert same.text == ref.text and same.ids == ref.ids
    finally:
        client.unload_model("second")
    with pytest.raises(eagle.NotFound):
        client.unload_model("second")
    with pytest.raises(eagle.NotFound):
        client.generate("x", model="second")


def test_stats(client: eagle.Client) -> None:
    st = client.stats("tiny")
    assert [m.name for m in st.models] == ["tiny"]
    m = st.model("tiny")
    assert m.requests > 0 and m.tokens_generated > 0 and m.tokens_per_second > 0
    assert st.uptime_seconds > 0
    with pytest.raises(eagle.NotFound):
        client.stats("no-such-model")
