"""Serving helpers: shape buckets for compiled decode steps, and CPU threads.

``torch.compile`` specialises the decode step on every tensor shape it sees,
and stops compiling after ``recompile_limit`` shapes (8 by default; with
``fullgraph=True`` it then raises). The generate loop therefore rounds the
shapes it can choose to a few buckets:

* the batch, to a power of two (extra rows copy row 0 and are dropped);
* the cache length, to a power of two of at least ``MIN_BUCKET`` positions,
  capped at the context;
* the attended length of a step: the filled part of the cache rounded up the
  same way, so a step reads only the keys written so far (plus at most the
  rest of the bucket) instead of the whole preallocated cache.

A step whose compiled version cannot be built (recompile limit, compiler
error) runs eagerly instead; see :class:`bygpt_model.generate.DecodeStep`.
"""

from __future__ import annotations

import os

# Smallest cache / attention bucket, in positions (blocks): a multiple of 16
# keeps the fused attention kernels' alignment.
MIN_BUCKET = 64
# Recompile budget of the compiled decode step (torch's default is 8). The
# buckets bound the number of shapes; this leaves room for a few batch sizes.
RECOMPILE_LIMIT = 32


def next_power_of_two(n: int) -> int:
    if n < 1:
        raise ValueError(f"expected a positive size, got {n}")
    return 1 << (n - 1).bit_length()


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def bucket_batch(batch_size: int) -> int:
    """Rows the compiled step runs for ``batch_size`` rows."""
    return next_power_of_two(batch_size)


def bucket_cache_length(needed: int, context: int) -> int:
    """Cache positions for a run that needs ``needed`` positions, for a model
    with ``context`` positions: a power of two (at least ``MIN_BUCKET``), or
    the context rounded up to 16 when that is smaller."""
    if needed > context:
        raise ValueError(f"{needed} positions do not fit the context of {context}")
    return min(next_power_of_two(max(needed, MIN_BUCKET)), round_up(context, 16))


def plain_cache_length(needed: int) -> int:
    """Cache positions without compile: ``needed`` rounded up to 16."""
    return round_up(needed, 16)


def attend_length(filled: int, cache_length: int) -> int:
    """Keys a step attends over when ``filled`` cache slots are written: the
    power-of-two bucket (at least ``MIN_BUCKET``) that holds them, capped at
    the cache length."""
    if not 0 < filled <= cache_length:
        raise ValueError(f"{filled} filled slots for a cache of {cache_length}")
    return min(next_power_of_two(max(filled, MIN_BUCKET)), cache_length)


def pick_cpu_threads(max_threads: int | None = None, *, small_model: bool = False) -> int:
    """A thread count for torch on the CPU that does not collapse on a busy
    machine: the cores this process may use, minus the load already running
    on them (1-minute load average), at least 1. torch's OpenMP threads spin
    and wait for each other at every operator, so one thread that gets
    descheduled stalls all of them: on a busy 2-core machine 2 threads were
    ~50x slower than 1 for the tiny model. ``small_model``: kernels too small
    to split well, so use one thread."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    free = max(1, int(cores - load + 0.5))
    if small_model:
        free = 1
    if max_threads is not None:
        free = min(free, max_threads)
    return max(1, min(free, cores))


__all__ = [
    "MIN_BUCKET",
    "RECOMPILE_LIMIT",
    "attend_length",
    "bucket_batch",
    "bucket_cache_length",
    "next_power_of_two",
    "pick_cpu_threads",
    "plain_cache_length",
    "round_up",
]
