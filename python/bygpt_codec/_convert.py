"""Turn the many shapes of byte data users hold into bytes, checking values.

Integer arrays (numpy, torch) and lists of ints are accepted as long as every
value is in 0..255; anything else raises a clear TypeError or ValueError
instead of silently wrapping (300 must never become 44).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_numpy(obj: Any) -> np.ndarray:
    """An array, tensor, list of ints or buffer as a numpy array (no copy where possible)."""
    if isinstance(obj, np.ndarray):
        return obj
    module = type(obj).__module__
    if module.startswith("torch"):
        obj = obj.detach().cpu().numpy()  # no torch import needed: the object brings it
        return obj
    if isinstance(obj, (str,)):
        raise TypeError("expected bytes or integers in 0..255, not str (encode text with Codec.encode)")
    if isinstance(obj, (list, tuple)):
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in obj):
            bad = next(v for v in obj if not isinstance(v, (int, np.integer)) or isinstance(v, bool))
            raise TypeError(f"expected integers in 0..255, found {type(bad).__name__} {bad!r}")
        if not obj:
            return np.zeros(0, dtype=np.uint8)
        try:
            return np.array(obj, dtype=np.int64)
        except OverflowError:  # beyond int64: certainly not a byte
            at, bad = next((k, v) for k, v in enumerate(obj) if not -(2**63) <= v < 2**63)
            raise ValueError(f"byte values must be in 0..255; found {int(bad)} at index {at}") from None
    try:
        return np.asarray(memoryview(obj))
    except TypeError:
        raise TypeError(
            f"expected bytes, bytearray, memoryview, an integer array or a list of ints, not {type(obj).__name__}"
        ) from None


def _checked_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind not in "iu":
        raise TypeError(f"byte data must have an integer dtype, not {arr.dtype}")
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi > 255:
            flat = arr.reshape(-1)
            at = int(np.flatnonzero((flat < 0) | (flat > 255))[0])
            raise ValueError(f"byte values must be in 0..255; found {int(flat[at])} at flat index {at}")
    return arr.astype(np.uint8)


def as_bytes(obj: Any) -> bytes:
    """One row of byte data as bytes."""
    arr = to_numpy(obj)
    if arr.ndim != 1:
        raise ValueError(f"expected one row of bytes (1-D), got an array of shape {arr.shape}")
    return _checked_uint8(arr).tobytes()


def as_uint8_matrix(obj: Any) -> tuple[bytes, int, int]:
    """A 2-D batch as (C-contiguous bytes, rows, width)."""
    arr = to_numpy(obj)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D batch, got shape {arr.shape}")
    rows, width = arr.shape
    return _checked_uint8(arr).tobytes(), rows, width


def is_matrix(obj: Any) -> bool:
    """Is this a 2-D array or tensor (as opposed to a list of rows)?"""
    return getattr(obj, "ndim", None) == 2 and hasattr(obj, "shape")
