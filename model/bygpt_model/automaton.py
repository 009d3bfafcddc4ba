"""The scheme's byte automaton as device tables, and the block choices that use it.

``bygpt_codec.Codec(scheme).byte_automaton()`` is a DFA that accepts exactly
the byte streams strict decoding accepts. This module turns it into tables
for the generate loop and implements, as pure tensor ops with static shapes
(so they run inside a captured CUDA graph or a compiled step, with no host
reads):

* the state of every row after its prompt (:func:`prompt_end_state`);
* the per-byte bookkeeping of the generated stream (code boundaries, for
  stop sequences);
* **valid-only block choice for independent heads** (:func:`choose_valid_block`):
  the exact best block (greedy) or an exact sample (sampling) under the
  product of the K heads' distributions, restricted to blocks the automaton
  accepts and that end in a live state (a state from which the stream can
  still be finished). It is a max-product (Viterbi) or sum-product
  (forward-filtering, backward-sampling) pass over the K byte steps of one
  block, done in log space;
* the per-byte masks that chained heads use (:attr:`DeviceTables.allowed`).

Offsets: ``offset[s]`` is the offset within its block of the next byte, and
every transition goes from offset k to k + 1 (mod 4), so the states at
offset k form a class; the block passes are written over these classes
(``members[k]``), which keeps them small (jpblock: 1, 6, 101 and 99 states).

A generated block starts at offset 0. Under ``jpblock`` that state is always
``start`` for valid text; under ``utf8`` a character may straddle blocks and
the state carries over.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bygpt_codec.constants import BLOCK, FILLER

NEG_INF = float("-inf")
# Sampling with valid-only decoding: a byte that top-k / top-p removed from
# its head keeps its (temperature-scaled) log-probability minus this penalty
# instead of -inf. A block made only of kept bytes always outweighs one that
# uses a removed byte (exp(-1e4) is 0 in float32, and no Gumbel draw from
# float32 noise exceeds ~110), so the sample is exact whenever some valid
# block survives the filters; when none does, the least-filtered valid blocks
# are sampled instead of failing.
FILTERED_PENALTY = 1.0e4


# --------------------------------------------------------------------------
# Host tables (numpy), once per codec
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class HostTables:
    """The automaton plus derived tables, as numpy arrays (see module docs)."""

    scheme: str
    start: int
    next: np.ndarray  # [S, 256] int64, -1 = invalid byte
    step: np.ndarray  # [S, 256] int64, total: recovers after an invalid byte
    code_start: np.ndarray  # [S] bool
    offset: np.ndarray  # [S] int64
    restart: np.ndarray  # [BLOCK] the code-boundary state at each offset
    live: np.ndarray  # [S] bool: a code boundary can still be reached
    members: tuple[np.ndarray, ...]  # per offset: the states at that offset
    local: np.ndarray  # [S] index of each state within its offset class
    # allowed[s, b]: b is valid in s and the block can still be completed
    # to a live state (allowed_last: to a code boundary).
    allowed: np.ndarray
    allowed_last: np.ndarray

    @property
    def num_states(self) -> int:
        return len(self.code_start)

    def run(self, data: bytes | list[int], state: int | None = None) -> int:
        """State after ``data`` with the recovering table (never -1)."""
        s = self.start if state is None else state
        for b in data:
            s = int(self.step[s, b])
        return s

    def is_valid(self, data: bytes | list[int], state: int | None = None) -> bool:
        """Whether ``data`` is accepted from ``state`` (strict table)."""
        s = self.start if state is None else state
        for b in data:
            s = int(self.next[s, b])
            if s < 0:
                return False
        return True


def _completable(nxt: np.ndarray, offset: np.ndarray, end: np.ndarray) -> np.ndarray:
    """[S] bool: from s, the rest of the current block can be written so that
    it ends (at the next block start) in a state where ``end`` holds."""
    valid = nxt >= 0
    target = np.maximum(nxt, 0)
    ok = np.zeros(len(nxt), dtype=bool)
    ok[offset == 0] = end[offset == 0]
    # Offsets BLOCK-1 down to 1: each only needs the class after it.
    for k in range(BLOCK - 1, 0, -1):
        cls = offset == k
        ok[cls] = (valid[cls] & ok[target[cls]]).any(axis=1)
    return ok


def build_host_tables(automaton: Any, scheme: str) -> HostTables:
    """Derive every table from a :class:`bygpt_codec.ByteAutomaton`."""
    nxt = np.asarray(automaton.next, dtype=np.int64)
    num_states = nxt.shape[0]
    start = int(automaton.start)
    code_start = np.asarray(automaton.code_start, dtype=bool)
    offset = np.asarray(automaton.offset, dtype=np.int64)
    valid = nxt >= 0
    target = np.maximum(nxt, 0)
    if offset[start] != 0 or not code_start[start]:
        raise ValueError("the automaton's start state must be a code boundary at offset 0")
    bad = valid & (offset[target] != (offset[:, None] + 1) % BLOCK)
    if bad.any():
        raise ValueError("the automaton's offsets are inconsistent with its transitions")
    # The code boundary at each offset: start, then filler, filler, ...
    restart = np.zeros(BLOCK, dtype=np.int64)
    s = start
    for k in range(BLOCK):
        restart[k] = s
        s = int(nxt[s, FILLER])
        if s < 0:
            raise ValueError("filler must be valid at code boundaries")
    # Total table: after an invalid byte, the byte starts a new code at the
    # same offset if it can, else the stream resumes at the next offset's
    # code boundary. Offsets stay consistent, so block starts stay offset 0.
    fresh = nxt[restart[offset]]  # [S, 256]
    step = np.where(valid, nxt, np.where(fresh >= 0, fresh, restart[(offset + 1) % BLOCK][:, None]))
    live = code_start.copy()
    while True:
        grown = live | (valid & live[target]).any(axis=1)
        if (grown == live).all():
            break
        live = grown
    members = tuple(np.nonzero(offset == k)[0].astype(np.int64) for k in range(BLOCK))
    local = np.zeros(num_states, dtype=np.int64)
    for m in members:
        local[m] = np.arange(len(m))
    allowed = valid & _completable(nxt, offset, live)[target]
    allowed_last = valid & _completable(nxt, offset, code_start)[target]
    return HostTables(
        scheme=scheme,
        start=start,
        next=nxt,
        step=step,
        code_start=code_start,
        offset=offset,
        restart=restart,
        live=live,
        members=members,
        local=local,
        allowed=allowed,
        allowed_last=allowed_last,
    )


@functools.lru_cache(maxsize=16)
def _host_tables_for_codec(codec: Any) -> HostTables:
    return build_host_tables(codec.byte_automaton(), codec.scheme)


def host_tables(scheme_or_codec: Any = "jpblock") -> HostTables:
    """The host tables of a scheme name or a ``bygpt_codec.Codec`` (cached:
    exploring the decoder takes a few seconds)."""
    import bygpt_codec

    codec = bygpt_codec.Codec(scheme_or_codec) if isinstance(scheme_or_codec, str) else scheme_or_codec
    return _host_tables_for_codec(codec)


# --------------------------------------------------------------------------
# Device tables
# --------------------------------------------------------------------------


@dataclass
class DeviceTables:
    """The tables on one device (all index tensors int64)."""

    host: HostTables
    step: torch.Tensor  # [S, 256] total transition (for tracking any stream)
    code_start: torch.Tensor  # [S] bool
    local: torch.Tensor  # [S]
    members0: torch.Tensor  # [M0] global ids of the offset-0 states
    # Per offset k: [M_k, 256] local index of the target in the next class,
    # or M_{k+1} for an invalid byte (a column of -inf appended to scores).
    trans: list[torch.Tensor]
    end_live: torch.Tensor  # [M0] bool
    end_code: torch.Tensor  # [M0] bool
    allowed: torch.Tensor  # [S, 256] bool
    allowed_last: torch.Tensor  # [S, 256] bool

    @property
    def start(self) -> int:
        return self.host.start


_DEVICE_CACHE: dict[tuple[int, str], DeviceTables] = {}


def device_tables(host: HostTables, device: torch.device | str) -> DeviceTables:
    """``host`` on ``device`` (cached per host table and device)."""
    dev = torch.device(device)
    key = (id(host), str(dev))
    cached = _DEVICE_CACHE.get(key)
    if cached is not None and cached.host is host:
        return cached

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    trans = []
    for k in range(BLOCK):
        rows = host.next[host.members[k]]
        invalid = len(host.members[(k + 1) % BLOCK])
        trans.append(t(np.where(rows >= 0, host.local[np.maximum(rows, 0)], invalid)))
    m0 = host.members[0]
    tables = DeviceTables(
        host=host,
        step=t(host.step),
        code_start=t(host.code_start),
        local=t(host.local),
        members0=t(m0),
        trans=trans,
        end_live=t(host.live[m0]),
        end_code=t(host.code_start[m0]),
        allowed=t(host.allowed),
        allowed_last=t(host.allowed_last),
    )
    _DEVICE_CACHE[key] = tables
    return tables


# --------------------------------------------------------------------------
# Tracking states on the device
# --------------------------------------------------------------------------


def run_block(tables: DeviceTables, state: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """States along one block: [B] start states, [B, K] bytes -> [B, K + 1]
    (column k is the state before byte k; the last, after the block)."""
    states = [state]
    for k in range(block.shape[-1]):
        state = tables.step[state, block[:, k]]
        states.append(state)
    return torch.stack(states, dim=1)


def prompt_end_state(tables: DeviceTables, blocks: torch.Tensor, block_mask: torch.Tensor) -> torch.Tensor:
    """[B] automaton state after each row's prompt, on the device, no host reads.

    ``blocks`` [B, N, K], ``block_mask`` [B, N] (False for padding, which is
    read as filler blocks). Each block is turned into a map from the offset-0
    states to the offset-0 states (a few per scheme), and the maps of a row
    are composed by a tree reduction: log2(N) gathers instead of 4 N steps.
    """
    b, n, k = blocks.shape
    data = torch.where(block_mask[..., None], blocks, torch.full_like(blocks, FILLER))
    m0 = tables.members0
    state = m0.view(1, 1, -1).expand(b, n, -1)  # [B, N, M0] global ids
    for j in range(k):
        state = tables.step[state, data[:, :, j, None].expand_as(state)]
    maps = tables.local[state]  # [B, N, M0]: local offset-0 index after the block
    identity = torch.arange(m0.numel(), device=blocks.device)
    while maps.shape[1] > 1:
        if maps.shape[1] % 2:
            maps = torch.cat([maps, identity.view(1, 1, -1).expand(b, 1, -1)], dim=1)
        first, second = maps[:, 0::2], maps[:, 1::2]
        maps = second.gather(-1, first)  # apply first, then second
    start_local = int(tables.host.local[tables.start])
    return m0[maps[:, 0, start_local]]


# --------------------------------------------------------------------------
# Per-head scores
# --------------------------------------------------------------------------


def filter_mask(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor | None:
    """Bytes that top-k and then top-p remove, per head ([..., V] bool), or None."""
    drop = None
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        drop = logits < kth
    if top_p is not None and top_p < 1.0:
        kept = logits if drop is None else logits.masked_fill(drop, NEG_INF)
        sorted_logits, order = torch.sort(kept, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Drop a byte once the bytes before it already cover top_p; the most
        # likely byte always survives.
        drop_sorted = (probs.cumsum(-1) - probs) >= top_p
        by_p = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        drop = by_p if drop is None else drop | by_p
    return drop


def sampling_scores(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Log-weights for valid-only sampling: log-softmax of the filtered
    head, with removed bytes penalised (see ``FILTERED_PENALTY``)."""
    scaled = logits.float() / temperature
    drop = filter_mask(scaled, top_k, top_p)
    if drop is None:
        return scaled.log_softmax(-1)
    kept = scaled.masked_fill(drop, NEG_INF).log_softmax(-1)
    return torch.where(drop, scaled.log_softmax(-1) - FILTERED_PENALTY, kept)


def gumbel(noise: torch.Tensor) -> torch.Tensor:
    """Gumbel noise from Exp(1) noise: argmax(log w + gumbel) = argmax(w / E)."""
    return -noise.log()


# --------------------------------------------------------------------------
# Valid-only block choice for independent heads
# --------------------------------------------------------------------------


def choose_valid_block(
    tables: DeviceTables,
    scores: torch.Tensor,
    state: torch.Tensor,
    is_last: torch.Tensor,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """The best (``noise`` None) or a sampled valid block.

    ``scores`` [B, K, V] are per-head log-weights (greedy: raw logits, since a
    per-head constant does not change the argmax; sampling:
    :func:`sampling_scores`). ``state`` [B] holds offset-0 states;
    ``is_last`` (a 0-d or [1] bool tensor) asks the block to end on a code
    boundary, so that the whole output decodes strictly. ``noise`` [B, K, V]
    is Exp(1) noise: with it the block is an exact sample from the product of
    the heads restricted to valid blocks (backward sums, then forward
    sampling of each byte given the bytes before it).

    Returns [B, K] byte ids (int64).
    """
    sample = noise is not None
    b = scores.shape[0]
    k_bytes = scores.shape[1]
    scores = scores.float()
    end = torch.where(is_last.reshape(()), tables.end_code, tables.end_live)
    w_end = torch.zeros(end.shape, dtype=scores.dtype, device=scores.device).masked_fill(~end, NEG_INF)
    # after[k]: [B, M_{k+1} + 1] the best (or log-total) weight of finishing
    # the block from each state at offset k + 1, then -inf for "invalid".
    blocked = torch.full((b, 1), NEG_INF, dtype=scores.dtype, device=scores.device)
    after: list[torch.Tensor] = [blocked] * k_bytes
    after[k_bytes - 1] = torch.cat([w_end.expand(b, -1), blocked], dim=1)
    for k in range(k_bytes - 1, 0, -1):
        trans = tables.trans[k]  # [M_k, V]
        gathered = after[k].index_select(1, trans.flatten()).view(b, *trans.shape)
        x = gathered + scores[:, k, None, :]  # [B, M_k, V]
        best = torch.logsumexp(x, dim=-1) if sample else x.amax(dim=-1)
        after[k - 1] = torch.cat([best, blocked], dim=1)
    loc = tables.local[state]
    out = []
    for k in range(k_bytes):
        trans = tables.trans[k][loc]  # [B, V]
        x = scores[:, k] + after[k].gather(1, trans)
        if sample:
            assert noise is not None
            x = x + gumbel(noise[:, k].float())
        byte = x.argmax(dim=-1)
        out.append(byte)
        loc = trans.gather(1, byte[:, None]).squeeze(1)
    return torch.stack(out, dim=1)


__all__ = [
    "FILTERED_PENALTY",
    "DeviceTables",
    "HostTables",
    "build_host_tables",
    "choose_valid_block",
    "device_tables",
    "filter_mask",
    "host_tables",
    "prompt_end_state",
    "run_block",
    "sampling_scores",
]
