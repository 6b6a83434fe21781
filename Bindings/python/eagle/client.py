"""The eagled client: a thread-safe connection (Client) and streaming generations (Stream)."""

from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)

from . import _native as N
from .errors import E_CANCELLED, E_INVAL, EagleError, InvalidArgument, InvalidState, make_error
from .types import (
    Chunk,
    GenerateResult,
    GenerateStats,
    Health,
    ModelInfo,
    ModelMemory,
    ModelStats,
    Stats,
    StopReason,
)

ChatInput = Iterable[Union[Tuple[str, str], Mapping[str, str]]]
PathLike = Union[str, "os.PathLike[str]"]

_E_CANCELLED = E_CANCELLED
_E_INVAL = E_INVAL  # caught here, before anything is sent
_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1


def _text(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidArgument("%s must be a str, not %s" % (name, type(value).__name__), _E_INVAL)
    if "\0" in value:
        raise InvalidArgument("%s contains a NUL character" % name, _E_INVAL)
    return value.encode("utf-8")


def _uint(value: Any, name: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument("%s must be an int, not %s" % (name, type(value).__name__), _E_INVAL)
    if not 0 <= value <= limit:
        raise InvalidArgument("%s must be between 0 and %d, got %d" % (name, limit, value), _E_INVAL)
    return value


def _decode(ptr: Any, length: int) -> str:
    return ctypes.string_at(ptr, length).decode("utf-8", "replace") if length else ""


def _str(value: Optional[bytes]) -> str:
    return value.decode("utf-8", "replace") if value else ""


def _model_info(m: N.ModelInfo) -> ModelInfo:
    return ModelInfo(
        name=_str(m.name),
        target_dir=_str(m.target_dir),
        draft_dir=_str(m.draft_dir),
        has_draft=bool(m.has_draft),
        vocab_size=m.vocab_size,
        context_length=m.context_length,
        hidden_size=m.hidden_size,
        layers=m.layers,
        parameters=m.parameters,
    )


def _result(r: N.GenerateResult) -> GenerateResult:
    try:
        reason = StopReason(r.stop_reason)
    except ValueError:
        reason = StopReason.UNSPECIFIED
    return GenerateResult(
        text=_decode(r.text, r.text_len),
        ids=list(r.ids[: r.n_ids]) if r.n_ids else [],
        stop_reason=reason,
        stats=GenerateStats(
            prompt_tokens=r.prompt_tokens,
            generated_tokens=r.n_ids,
            steps=r.steps,
            mean_accepted=r.mean_accepted,
            prefill_seconds=r.prefill_seconds,
            decode_seconds=r.decode_seconds,
            queue_seconds=r.queue_seconds,
            seed=r.seed,
            decoding=ctypes.string_at(r.decoding).decode() if r.decoding else "",
            decoding_reason=ctypes.string_at(r.decoding_reason).decode() if r.decoding_reason else "",
            expected_accepted=r.expected_accepted,
        ),
    )


class _Params:
    """A GenerateParams struct plus the buffers it points into (kept alive with it)."""

    def __init__(
        self,
        prompt: Optional[str],
        tokens: Optional[Sequence[int]],
        chat: Optional[ChatInput],
        model: str,
        max_tokens: Optional[int],
        temperature: float,
        top_k: int,
        top_p: float,
        seed: int,
        stop: Union[str, Sequence[str], None],
        ignore_eos: bool,
        eagle: bool,
        tree_depth: int,
        tree_top_k: int,
        total_tokens: int,
        static_tree: bool,
    ) -> None:
        given = [name for name, v in (("prompt", prompt), ("tokens", tokens), ("chat", chat)) if v is not None]
        if len(given) != 1:
            raise InvalidArgument(
                "give exactly one of prompt, tokens and chat (got %s)" % (", ".join(given) or "none"), _E_INVAL
            )
        p = N.GenerateParams()
        self._keep: List[Any] = []
        p.model = _text(model, "model")
        if prompt is not None:
            p.text = _text(prompt, "prompt")
        elif tokens is not None:
            ids = [_uint(t, "token id", _U32) for t in tokens]
            arr = (N.c_uint32 * max(1, len(ids)))(*ids)
            self._keep.append(arr)
            p.tokens = ctypes.cast(arr, ctypes.POINTER(N.c_uint32))
            p.n_tokens = len(ids)
        else:
            msgs: List[Tuple[bytes, bytes]] = []
            for m in chat or ():
                if isinstance(m, Mapping):
                    role, content = m.get("role", ""), m.get("content", "")
                else:
                    role, content = m
                msgs.append((_text(role, "chat role"), _text(content, "chat content")))
            chat_arr = (N.ChatMessage * max(1, len(msgs)))(*[N.ChatMessage(r, c) for r, c in msgs])
            self._keep.append(chat_arr)
            p.chat = ctypes.cast(chat_arr, ctypes.POINTER(N.ChatMessage))
            p.n_chat = len(msgs)
        if max_tokens is not None:
            # libeagle sends max_tokens 0 as "unset" (the daemon's default), so an explicit
            # 0, which the daemon refuses, is refused here the same way.
            if _uint(max_tokens, "max_tokens", _U32) == 0:
                raise InvalidArgument(
                    "max_tokens must be at least 1 (None = the daemon's default length)", _E_INVAL
                )
            p.max_tokens = max_tokens
        p.temperature = float(temperature)
        p.top_k = _uint(top_k, "top_k", _U32)
        p.top_p = float(top_p)
        p.seed = _uint(seed, "seed", _U64)
        stops = [stop] if isinstance(stop, str) else list(stop or ())
        if stops:
            sarr = (N.c_char_p * len(stops))(*[_text(s, "stop") for s in stops])
            self._keep.append(sarr)
            p.stop = ctypes.cast(sarr, ctypes.POINTER(N.c_char_p))
            p.n_stop = len(stops)
        p.ignore_eos = int(bool(ignore_eos))
        p.eagle = int(bool(eagle))
        p.tree_depth = _uint(tree_depth, "tree_depth", _U32)
        p.tree_top_k = _uint(tree_top_k, "tree_top_k", _U32)
        p.total_tokens = _uint(total_tokens, "total_tokens", _U32)
        p.static_tree = int(bool(static_tree))
        self.struct = p


class Stream(Iterator[Chunk]):
    """One streaming generation: iterate for Chunks; then `result` holds the whole output.

    `cancel()` may be called from any thread; the iteration then ends quietly with
    `cancelled` set (or with the result, if the server finished first). Iterate from one
    thread at a time. Closing (or leaving a `with` block) cancels an unfinished stream.
    """

    def __init__(self, client: "Client", handle: Any, raise_on_cancel: bool = False) -> None:
        self._client = client
        self._lib = client._lib
        self._handle: Any = handle
        self._lock = threading.Lock()  # guards _handle against cancel() racing with free
        self._raise_on_cancel = raise_on_cancel
        self._cancel_requested = False
        #: The wire request id (what Client.cancel(int) takes).
        self.id: int = self._lib.eagle_stream_id(handle)
        #: The whole output, once the iteration has ended normally.
        self.result: Optional[GenerateResult] = None
        #: True when the stream ended because it was cancelled.
        self.cancelled = False

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> Chunk:
        handle = self._handle
        if handle is None:
            raise StopIteration
        chunk_p = ctypes.POINTER(N.Chunk)()
        rc = self._lib.eagle_stream_next(handle, ctypes.byref(chunk_p))
        if rc != 0:
            message = _str(self._lib.eagle_last_error())
            self.close()
            if rc == _E_CANCELLED:
                self.cancelled = True
                if self._cancel_requested and not self._raise_on_cancel:
                    raise StopIteration
            raise make_error(rc, message)
        if not chunk_p:
            res_p = ctypes.POINTER(N.GenerateResult)()
            rc = self._lib.eagle_stream_result(handle, ctypes.byref(res_p))
            if rc != 0:
                message = _str(self._lib.eagle_last_error())
                self.close()
                raise make_error(rc, message)
            try:
                self.result = _result(res_p.contents)
            finally:
                self._lib.eagle_generate_result_free(res_p)
            self.close()
            raise StopIteration
        c = chunk_p.contents
        return Chunk(
            text=_decode(c.text, c.text_len),
            ids=list(c.ids[: c.n_ids]) if c.n_ids else [],
            accepted=c.accepted,
        )

    def collect(self) -> GenerateResult:
        """Consumes the rest of the stream and returns the result (Cancelled if cancelled)."""
        for _ in self:
            pass
        if self.result is None:
            raise make_error(_E_CANCELLED, "the generation was cancelled")
        return self.result

    def cancel(self) -> None:
        """Asks the daemon to stop this generation. Thread-safe; no-op once ended."""
        self._cancel_requested = True
        with self._lock:
            if self._handle is not None:
                # A failure here means the connection is gone; the iteration reports that.
                self._lib.eagle_stream_cancel(self._handle)

    def close(self) -> None:
        """Frees the stream, cancelling it if unfinished. Idempotent."""
        with self._lock:
            handle, self._handle = self._handle, None
            if handle is not None:
                self._lib.eagle_stream_free(handle)
        self._client._forget(self)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self._handle is not None:
                self.close()
        except Exception:
            pass


class Client:
    """A connection to eagled.

    One Client may be shared by several threads: libeagle multiplexes their requests on
    the one socket. `close()` cancels the client's running generations, waits for calls in
    progress to return, then disconnects. Use it as a context manager.
    """

    def __init__(self, socket_path: Optional[PathLike] = None, *, client_name: str = "python") -> None:
        """Connects to `socket_path` (default: $EAGLE_SOCKET, then /run/eagled/eagled.sock)."""
        self._lib = N.load()
        self._handle: Any = None
        self._cond = threading.Condition()
        self._busy = 0
        self._closed = False
        self._streams: Set[Stream] = set()
        path = None if socket_path is None else _text(os.fspath(socket_path), "socket_path")
        handle = N.ClientP()
        rc = self._lib.eagle_client_connect(path, _text(client_name, "client_name"), ctypes.byref(handle))
        if rc != 0:
            raise make_error(rc, _str(self._lib.eagle_last_error()))
        self._handle = handle
        #: The daemon's version string, from its hello.
        self.server_version: str = _str(self._lib.eagle_client_server_version(handle))
        #: The largest request the daemon accepts, in bytes.
        self.max_frame_bytes: int = self._lib.eagle_client_max_frame_bytes(handle)

    # ---- lifetime ----

    @contextmanager
    def _use(self) -> Iterator[Any]:
        with self._cond:
            if self._closed:
                raise InvalidState("the client is closed")
            self._busy += 1
        try:
            yield self._handle
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()

    def _check(self, rc: int) -> None:
        if rc != 0:
            raise make_error(rc, _str(self._lib.eagle_last_error()))

    def _forget(self, stream: Stream) -> None:
        with self._cond:
            self._streams.discard(stream)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Cancels running generations, waits for calls in progress, disconnects. Idempotent."""
        with self._cond:
            if self._closed or self._handle is None:
                self._closed = True
                return
            self._closed = True
            streams = list(self._streams)
        for s in streams:
            s.cancel()
        with self._cond:
            while self._busy:
                self._cond.wait()
        for s in streams:
            s.close()
        handle, self._handle = self._handle, None
        self._lib.eagle_client_free(handle)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ---- generation ----

    def _start(self, raise_on_cancel: bool, args: Dict[str, Any]) -> Stream:
        params = _Params(**args)
        with self._use() as h:
            handle = N.StreamP()
            self._check(self._lib.eagle_stream_start(h, ctypes.byref(params.struct), ctypes.byref(handle)))
            stream = _ClientStream(self, handle, raise_on_cancel)
            with self._cond:
                self._streams.add(stream)
            return stream

    def generate(
        self,
        prompt: Optional[str] = None,
        *,
        tokens: Optional[Sequence[int]] = None,
        chat: Optional[ChatInput] = None,
        model: str = "",
        max_tokens: Optional[int] = None,
        temperature: float = 0.0,
        top_k: int = 0,
        top_p: float = 0.0,
        seed: int = 0,
        stop: Union[str, Sequence[str], None] = None,
        ignore_eos: bool = False,
        eagle: bool = False,
        tree_depth: int = 0,
        tree_top_k: int = 0,
        total_tokens: int = 0,
        static_tree: bool = False,
    ) -> GenerateResult:
        """Generates and returns the whole output with its stats.

        Give exactly one prompt: `prompt` (text; BOS added), `tokens` (ids used as given)
        or `chat` ((role, content) pairs or {"role", "content"} dicts). `model` "" is the
        daemon's default; max_tokens None the daemon's default length (0 raises
        InvalidArgument); temperature 0 greedy; top_k 0 and top_p 0/1 off; seed 0 chosen
        by the daemon (see result.stats.seed).
        `eagle=True` turns on EAGLE speculative decoding (same output, faster).
        Raises an EagleError subclass (InvalidArgument, NotFound, FailedPrecondition,
        ResourceExhausted, ...); Cancelled if Client.cancel() stopped it.
        """
        args = dict(locals())
        del args["self"]
        with self._start(True, args) as s:
            return s.collect()

    def stream(
        self,
        prompt: Optional[str] = None,
        *,
        tokens: Optional[Sequence[int]] = None,
        chat: Optional[ChatInput] = None,
        model: str = "",
        max_tokens: Optional[int] = None,
        temperature: float = 0.0,
        top_k: int = 0,
        top_p: float = 0.0,
        seed: int = 0,
        stop: Union[str, Sequence[str], None] = None,
        ignore_eos: bool = False,
        eagle: bool = False,
        tree_depth: int = 0,
        tree_top_k: int = 0,
        total_tokens: int = 0,
        static_tree: bool = False,
    ) -> Stream:
        """Starts a streaming generation (same arguments as generate) and returns at once.

        Iterate the returned Stream for Chunks; afterwards `stream.result` holds the whole
        GenerateResult. Errors surface from the iteration.
        """
        args = dict(locals())
        del args["self"]
        return self._start(False, args)

    def cancel(self, target: Union[Stream, int, None] = None) -> None:
        """Cancels a generation: a Stream, a request id, or (None) all of this client's."""
        if target is None:
            with self._cond:
                streams = list(self._streams)
            for s in streams:
                s.cancel()
        elif isinstance(target, Stream):
            target.cancel()
        else:
            with self._use() as h:
                self._check(self._lib.eagle_client_cancel(h, _uint(target, "request id", _U64)))

    # ---- everything else ----

    def health(self) -> Health:
        """Whether the daemon serves, how many models it holds, whether it is draining."""
        out = N.Health()
        with self._use() as h:
            self._check(self._lib.eagle_client_health(h, ctypes.byref(out)))
        return Health(serving=bool(out.serving), models=out.models, draining=bool(out.draining))

    def models(self) -> List[ModelInfo]:
        """The loaded models; the first is the default."""
        lst = ctypes.POINTER(N.ModelList)()
        with self._use() as h:
            self._check(self._lib.eagle_model_list_get(h, ctypes.byref(lst)))
        try:
            return [_model_info(lst.contents.models[i]) for i in range(lst.contents.n_models)]
        finally:
            self._lib.eagle_model_list_free(lst)

    def load_model(
        self,
        name: str,
        target_dir: str,
        draft_dir: Optional[str] = None,
        context_length: int = 0,
        dtype: Optional[str] = None,
    ) -> ModelInfo:
        """Loads a checkpoint (under the daemon's model root) as `name`. Admins only.

        `dtype`: "bf16" (the default; in place from a BF16 checkpoint), "f32", or "bf16dot"
        (BF16 weights times activations rounded to BF16: faster on AVX-512 BF16 CPUs).
        """
        p = N.LoadParams(
            _text(name, "name"),
            _text(target_dir, "target_dir"),
            None if draft_dir is None else _text(draft_dir, "draft_dir"),
            _uint(context_length, "context_length", _U32),
        )
        info = ctypes.POINTER(N.ModelInfo)()
        with self._use() as h:
            self._check(
                self._lib.eagle_model_load_dtype(
                    h, ctypes.byref(p), None if dtype is None else _text(dtype, "dtype"), ctypes.byref(info)
                )
            )
        try:
            return _model_info(info.contents)
        finally:
            self._lib.eagle_model_info_free(info)

    def model_memory(self, name: str) -> ModelMemory:
        """Weight dtype and bytes (mapped in place, draft head) and KV bytes per token of model `name`."""
        out = N.ModelMemory()
        with self._use() as h:
            self._check(self._lib.eagle_model_memory_get(h, _text(name, "name"), ctypes.byref(out)))
        return ModelMemory(
            dtype=out.dtype.decode("ascii", "replace"),
            weight_bytes=out.weight_bytes,
            mapped_weight_bytes=out.mapped_weight_bytes,
            draft_weight_bytes=out.draft_weight_bytes,
            kv_bytes_per_token=out.kv_bytes_per_token,
        )

    def unload_model(self, name: str) -> None:
        """Unloads model `name`. Admins only."""
        with self._use() as h:
            self._check(self._lib.eagle_model_unload(h, _text(name, "name")))

    def tokenize(self, text: str, *, model: str = "", add_special_tokens: bool = True) -> List[int]:
        """Token ids of `text` under the model's tokenizer."""
        ids = ctypes.POINTER(N.c_uint32)()
        n = N.c_size_t()
        with self._use() as h:
            self._check(
                self._lib.eagle_tokenize(
                    h, _text(model, "model"), _text(text, "text"), int(add_special_tokens), ctypes.byref(ids), ctypes.byref(n)
                )
            )
        try:
            return list(ids[: n.value]) if n.value else []
        finally:
            self._lib.eagle_free(ids)

    def detokenize(self, ids: Sequence[int], *, model: str = "", skip_special_tokens: bool = True) -> str:
        """Text of token ids."""
        vals = [_uint(t, "token id", _U32) for t in ids]
        arr = (N.c_uint32 * max(1, len(vals)))(*vals)
        out = N.c_void_p()
        with self._use() as h:
            self._check(
                self._lib.eagle_detokenize(
                    h, _text(model, "model"), arr, len(vals), int(skip_special_tokens), ctypes.byref(out)
                )
            )
        try:
            return _str(ctypes.string_at(out.value)) if out.value else ""
        finally:
            self._lib.eagle_free(out)

    def stats(self, model: str = "") -> Stats:
        """Per-model counters (all models, or just `model`)."""
        st = ctypes.POINTER(N.Stats)()
        with self._use() as h:
            self._check(self._lib.eagle_stats_get(h, _text(model, "model"), ctypes.byref(st)))
        try:
            s = st.contents
            models = [
                ModelStats(
                    name=_str(m.name),
                    requests=m.requests,
                    tokens_generated=m.tokens_generated,
                    prompt_tokens=m.prompt_tokens,
                    mean_accepted=m.mean_accepted,
                    tokens_per_second=m.tokens_per_second,
                    active=m.active,
                    queued=m.queued,
                    errors=m.errors,
                )
                for m in (s.models[i] for i in range(s.n_models))
            ]
            return Stats(uptime_seconds=s.uptime_seconds, models=models)
        finally:
            self._lib.eagle_stats_free(st)


class _ClientStream(Stream):
    """A Stream whose blocking waits count as calls in progress on its Client."""

    def __next__(self) -> Chunk:
        if self._handle is None:
            raise StopIteration
        with self._client._cond:
            self._client._busy += 1
        try:
            return super().__next__()
        finally:
            with self._client._cond:
                self._client._busy -= 1
                self._client._cond.notify_all()


__all__ = ["Client", "Stream", "EagleError"]
