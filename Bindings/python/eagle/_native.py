"""ctypes declarations of libeagle.so (Include/eagle/eagle.h) and how the library is found.

Kept in step with eagle.h by hand: every struct mirrors its C layout field for field, and
every function gets argtypes/restype so ctypes converts and checks arguments. ctypes
releases the GIL around each call, so blocking calls let other Python threads run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import List, Optional

#: The library version this binding is written against: this major, at least this minor.
ABI_MAJOR = 0
ABI_MINOR = 3

c_char_p = ctypes.c_char_p
c_int = ctypes.c_int
c_size_t = ctypes.c_size_t
c_uint32 = ctypes.c_uint32
c_uint64 = ctypes.c_uint64
c_double = ctypes.c_double
c_float = ctypes.c_float
c_void_p = ctypes.c_void_p
POINTER = ctypes.POINTER


class Health(ctypes.Structure):
    _fields_ = [("serving", c_int), ("models", c_uint32), ("draining", c_int)]


class ModelInfo(ctypes.Structure):
    _fields_ = [
        ("name", c_char_p),
        ("target_dir", c_char_p),
        ("draft_dir", c_char_p),
        ("has_draft", c_int),
        ("vocab_size", c_uint32),
        ("context_length", c_uint32),
        ("hidden_size", c_uint32),
        ("layers", c_uint32),
        ("parameters", c_uint64),
    ]


class ModelMemory(ctypes.Structure):
    _fields_ = [
        ("dtype", ctypes.c_char * 8),
        ("weight_bytes", c_uint64),
        ("mapped_weight_bytes", c_uint64),
        ("draft_weight_bytes", c_uint64),
        ("kv_bytes_per_token", c_uint64),
    ]


class ModelList(ctypes.Structure):
    _fields_ = [("n_models", c_size_t), ("models", POINTER(ModelInfo))]


class LoadParams(ctypes.Structure):
    _fields_ = [
        ("name", c_char_p),
        ("target_dir", c_char_p),
        ("draft_dir", c_char_p),
        ("context_length", c_uint32),
    ]


class ChatMessage(ctypes.Structure):
    _fields_ = [("role", c_char_p), ("content", c_char_p)]


class GenerateParams(ctypes.Structure):
    _fields_ = [
        ("model", c_char_p),
        ("text", c_char_p),
        ("tokens", POINTER(c_uint32)),
        ("n_tokens", c_size_t),
        ("chat", POINTER(ChatMessage)),
        ("n_chat", c_size_t),
        ("max_tokens", c_uint32),
        ("temperature", c_float),
        ("top_k", c_uint32),
        ("top_p", c_float),
        ("seed", c_uint64),
        ("stop", POINTER(c_char_p)),
        ("n_stop", c_size_t),
        ("ignore_eos", c_int),
        ("eagle", c_int),
        ("tree_depth", c_uint32),
        ("tree_top_k", c_uint32),
        ("total_tokens", c_uint32),
        ("static_tree", c_int),
    ]


class GenerateResult(ctypes.Structure):
    _fields_ = [
        ("text", POINTER(ctypes.c_char)),
        ("text_len", c_size_t),
        ("ids", POINTER(c_uint32)),
        ("n_ids", c_size_t),
        ("stop_reason", c_int),
        ("prompt_tokens", c_uint32),
        ("steps", c_uint32),
        ("mean_accepted", c_double),
        ("prefill_seconds", c_double),
        ("decode_seconds", c_double),
        ("queue_seconds", c_double),
        ("seed", c_uint64),
        ("decoding", POINTER(ctypes.c_char)),
        ("decoding_reason", POINTER(ctypes.c_char)),
        ("expected_accepted", c_double),
    ]


class Chunk(ctypes.Structure):
    _fields_ = [
        ("ids", POINTER(c_uint32)),
        ("n_ids", c_size_t),
        ("text", POINTER(ctypes.c_char)),
        ("text_len", c_size_t),
        ("accepted", c_uint32),
    ]


class ModelStats(ctypes.Structure):
    _fields_ = [
        ("name", c_char_p),
        ("requests", c_uint64),
        ("tokens_generated", c_uint64),
        ("prompt_tokens", c_uint64),
        ("mean_accepted", c_double),
        ("tokens_per_second", c_double),
        ("active", c_uint32),
        ("queued", c_uint32),
        ("errors", c_uint64),
    ]


class Stats(ctypes.Structure):
    _fields_ = [("uptime_seconds", c_double), ("n_models", c_size_t), ("models", POINTER(ModelStats))]


# Opaque handles.
class _Client(ctypes.Structure):
    pass


class _Stream(ctypes.Structure):
    pass


ClientP = POINTER(_Client)
StreamP = POINTER(_Stream)

# name: (restype, argtypes)
_PROTOTYPES = {
    "eagle_version": (c_char_p, []),
    "eagle_strerror": (c_char_p, [c_int]),
    "eagle_last_error": (c_char_p, []),
    "eagle_free": (None, [c_void_p]),
    "eagle_client_connect": (c_int, [c_char_p, c_char_p, POINTER(ClientP)]),
    "eagle_client_free": (None, [ClientP]),
    "eagle_client_server_version": (c_char_p, [ClientP]),
    "eagle_client_max_frame_bytes": (c_uint32, [ClientP]),
    "eagle_client_last_error": (c_int, [ClientP, c_char_p, c_size_t]),
    "eagle_client_health": (c_int, [ClientP, POINTER(Health)]),
    "eagle_client_cancel": (c_int, [ClientP, c_uint64]),
    "eagle_model_list_get": (c_int, [ClientP, POINTER(POINTER(ModelList))]),
    "eagle_model_list_free": (None, [POINTER(ModelList)]),
    "eagle_model_load": (c_int, [ClientP, POINTER(LoadParams), POINTER(POINTER(ModelInfo))]),
    "eagle_model_info_free": (None, [POINTER(ModelInfo)]),
    "eagle_model_load_dtype": (c_int, [ClientP, POINTER(LoadParams), c_char_p, POINTER(POINTER(ModelInfo))]),
    "eagle_model_memory_get": (c_int, [ClientP, c_char_p, POINTER(ModelMemory)]),
    "eagle_model_unload": (c_int, [ClientP, c_char_p]),
    "eagle_generate": (c_int, [ClientP, POINTER(GenerateParams), POINTER(POINTER(GenerateResult))]),
    "eagle_generate_result_free": (None, [POINTER(GenerateResult)]),
    "eagle_stream_start": (c_int, [ClientP, POINTER(GenerateParams), POINTER(StreamP)]),
    "eagle_stream_id": (c_uint64, [StreamP]),
    "eagle_stream_next": (c_int, [StreamP, POINTER(POINTER(Chunk))]),
    "eagle_stream_result": (c_int, [StreamP, POINTER(POINTER(GenerateResult))]),
    "eagle_stream_cancel": (c_int, [StreamP]),
    "eagle_stream_error": (c_char_p, [StreamP]),
    "eagle_stream_free": (None, [StreamP]),
    "eagle_tokenize": (c_int, [ClientP, c_char_p, c_char_p, c_int, POINTER(POINTER(c_uint32)), POINTER(c_size_t)]),
    "eagle_detokenize": (c_int, [ClientP, c_char_p, POINTER(c_uint32), c_size_t, c_int, POINTER(c_void_p)]),
    "eagle_stats_get": (c_int, [ClientP, c_char_p, POINTER(POINTER(Stats))]),
    "eagle_stats_free": (None, [POINTER(Stats)]),
}


def _candidates() -> List[str]:
    """Where libeagle.so may be, best first (see find_library).

    Deliberately no search of the working directory or its parents: a libeagle.so planted
    in a `.build-c/lib` under a world-writable directory would otherwise run inside every
    client started below it. A source checkout sets $EAGLE_LIBRARY (the Makefile and the
    test suite do).
    """
    env = os.environ.get("EAGLE_LIBRARY")
    if env:
        return [env]
    here = Path(__file__).resolve().parent
    found = [str(here / name) for name in ("libeagle.so", "libeagle.so.%d" % ABI_MAJOR)]
    system = ctypes.util.find_library("eagle")
    if system:
        found.append(system)
    found.append("libeagle.so.%d" % ABI_MAJOR)  # whatever the dynamic loader finds
    return found


def find_library() -> str:
    """Path of the libeagle.so that would be loaded.

    Order: $EAGLE_LIBRARY (exclusively, when set), libeagle.so next to this package,
    ctypes.util.find_library("eagle"), then the loader's own search for libeagle.so.0.
    Nothing relative to the working directory is ever considered.
    """
    for path in _candidates():
        if os.sep not in path or os.path.exists(path):
            return path
    raise OSError("libeagle.so not found")


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


_lib: Optional[ctypes.CDLL] = None


def load() -> ctypes.CDLL:
    """Loads libeagle.so once (see find_library) and checks its major version."""
    global _lib
    if _lib is not None:
        return _lib
    errors: List[str] = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            if os.environ.get("EAGLE_LIBRARY"):
                errors.append("EAGLE_LIBRARY=%s: no such file" % path)
            continue
        try:
            lib = ctypes.CDLL(path)
            lib.eagle_version.restype = c_char_p
            lib.eagle_version.argtypes = []
            version = lib.eagle_version().decode()
            major, minor = (int(part) for part in version.split(".")[:2])
            if major != ABI_MAJOR or minor < ABI_MINOR:
                errors.append("%s: version %s, this binding needs %d.%d or a later %d.x" % (path, version, ABI_MAJOR, ABI_MINOR, ABI_MAJOR))
                continue
            lib = _declare(lib)
        except (OSError, AttributeError, ValueError) as e:
            errors.append("%s: %s" % (path, e))
            continue
        _lib = lib
        return lib
    hint = "build it with `make -C Sources/CEagleClient` or set EAGLE_LIBRARY to its path"
    detail = "; ".join(errors) if errors else "no candidate exists"
    raise OSError("cannot load libeagle.so (%s); %s" % (detail, hint))
