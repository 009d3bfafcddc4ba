"""bygpt-codec: a byte tokenizer and text codec for byte-level language models
that read and predict 4 bytes per step.

    >>> import bygpt_codec
    >>> c = bygpt_codec.Codec(scheme="jpblock")
    >>> data = c.encode("こんにちは")
    >>> len(data) % 4, c.decode(data)
    (0, 'こんにちは')

Importing this package never imports torch or transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._codec import ByteAutomaton, Codec, EncodingStats
from ._errors import DecodeError
from ._native import SCHEMES as _SCHEMES
from ._native import IncrementalDecoder
from .constants import BLOCK, FILLER, PAD_ID

if TYPE_CHECKING:
    from ._native import Scheme

SCHEMES: tuple[Scheme, ...] = tuple(_SCHEMES)
__version__ = "0.1.0"
__all__ = [
    "BLOCK",
    "ByteAutomaton",
    "Codec",
    "DecodeError",
    "EncodingStats",
    "FILLER",
    "IncrementalDecoder",
    "PAD_ID",
    "SCHEMES",
]
