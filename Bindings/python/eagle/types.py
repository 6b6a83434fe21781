"""Plain value types returned by the client (copies: nothing here points into C memory)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import List


class StopReason(enum.IntEnum):
    """Why a generation ended (eagle.proto StopReason)."""

    UNSPECIFIED = 0
    EOS = 1
    STOP_STRING = 2
    MAX_TOKENS = 3
    CONTEXT_FULL = 4
    CANCELLED = 5


@dataclass(frozen=True)
class GenerateStats:
    """Timing and speculation figures of one generation."""

    prompt_tokens: int
    generated_tokens: int
    steps: int  #: target forward passes that produced tokens
    mean_accepted: float  #: tokens per step (1 for plain decoding)
    prefill_seconds: float
    decode_seconds: float
    queue_seconds: float
    seed: int  #: the seed actually used
    decoding: str = ""  #: "plain", or the tree used ("dynamic depth=2 top_k=1 total=3")
    decoding_reason: str = ""  #: "requested", or why the daemon's automatic choice made it
    expected_accepted: float = 0.0  #: tokens per step the automatic choice expected (0 otherwise)

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per decode second (0 when nothing was decoded)."""
        return self.generated_tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0


@dataclass(frozen=True)
class GenerateResult:
    """The whole output of a generation."""

    text: str
    ids: List[int]
    stop_reason: StopReason
    stats: GenerateStats


@dataclass(frozen=True)
class Chunk:
    """Tokens that became final during streaming; text is whole UTF-8 characters."""

    text: str
    ids: List[int]
    accepted: int  #: tokens the target step produced (EAGLE: accepted + bonus)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    target_dir: str
    draft_dir: str
    has_draft: bool
    vocab_size: int
    context_length: int
    hidden_size: int
    layers: int
    parameters: int


@dataclass(frozen=True)
class ModelMemory:
    """What a loaded model's weights and one request's KV cache take."""

    dtype: str  #: "bf16", "f32" or "bf16dot": how the weights are held ("" from a daemon that predates dtypes)
    weight_bytes: int  #: target + draft head weights
    mapped_weight_bytes: int  #: of which used in place from the checkpoints' memory maps
    draft_weight_bytes: int  #: of which the draft head's (0 without one)
    kv_bytes_per_token: int  #: KV cache a request holds per token of context, head included

    @property
    def owned_weight_bytes(self) -> int:
        """Weight bytes converted into the daemon's own memory (not shared through the page cache)."""
        return self.weight_bytes - self.mapped_weight_bytes


@dataclass(frozen=True)
class ModelStats:
    name: str
    requests: int
    tokens_generated: int
    prompt_tokens: int
    mean_accepted: float
    tokens_per_second: float
    active: int
    queued: int
    errors: int


@dataclass(frozen=True)
class Stats:
    uptime_seconds: float
    models: List[ModelStats] = field(default_factory=list)

    def model(self, name: str) -> ModelStats:
        """The entry for model `name` (KeyError if absent)."""
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(name)


@dataclass(frozen=True)
class Health:
    serving: bool
    models: int
    draining: bool
