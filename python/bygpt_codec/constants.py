"""The framing constants of every scheme, in one place.

They come from the Rust core (``bygpt_codec._native``), which is where the
format is defined; every other module (the transformers tokenizer, the
reference model) imports them from here instead of writing the numbers again.

* ``BLOCK``: bytes per block (one model position, one step of 4 byte heads).
* ``FILLER``: the byte that carries nothing; final padding and block-rule fill.
* ``PAD_ID``: the padding id of batches, which is ``FILLER``.
* ``SPECIAL_LEAD``: first byte of a 4-byte special block ``FE id2 id1 id0``.
* ``BOS``/``EOS``/``MASK`` and their ids ``BOS_ID``/``EOS_ID``/``MASK_ID``.
* ``FIRST_USER_SPECIAL_ID``: extra special tokens take ids from here up to
  ``MAX_SPECIAL_ID``.
"""

from __future__ import annotations

from . import _native

BLOCK: int = _native.BLOCK
FILLER: int = _native.FILLER
PAD_ID: int = _native.FILLER
SPECIAL_LEAD: int = _native.SPECIAL_LEAD
BOS: str = _native.BOS
EOS: str = _native.EOS
MASK: str = _native.MASK
BOS_ID: int = _native.BOS_ID
EOS_ID: int = _native.EOS_ID
MASK_ID: int = _native.MASK_ID
FIRST_USER_SPECIAL_ID: int = _native.FIRST_USER_SPECIAL_ID
MAX_SPECIAL_ID: int = _native.MAX_SPECIAL_ID


def special_block(special_id: int) -> bytes:
    """The 4-byte block of a special id: ``FE`` then the id, big-endian."""
    if not 0 < special_id <= MAX_SPECIAL_ID:
        raise ValueError(f"special ids are 1..{MAX_SPECIAL_ID}, not {special_id}")
    return bytes([SPECIAL_LEAD]) + special_id.to_bytes(3, "big")


__all__ = [
    "BLOCK",
    "BOS",
    "BOS_ID",
    "EOS",
    "EOS_ID",
    "FILLER",
    "FIRST_USER_SPECIAL_ID",
    "MASK",
    "MASK_ID",
    "MAX_SPECIAL_ID",
    "PAD_ID",
    "SPECIAL_LEAD",
    "special_block",
]
