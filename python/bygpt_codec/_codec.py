"""The Python face of the codec: the native class plus batch helpers."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from . import constants as _constants
from ._native import _Codec
from .constants import BLOCK

if TYPE_CHECKING:
    import numpy as np

# numpy is imported only by the batch methods: `import bygpt_codec` stays
# light, so the command line starts fast and never spins up BLAS threads.
_NUMPY: tuple[Any, Any] | None = None


def _numpy() -> tuple[Any, Any]:
    """numpy and our converters (which need it), imported on first use and
    then kept: an import statement in a method costs a short call ~0.5 us."""
    global _NUMPY
    if _NUMPY is None:
        import numpy

        from . import _convert

        _NUMPY = (numpy, _convert)
    return _NUMPY


@dataclass(frozen=True)
class EncodingStats:
    """How a scheme packs one text (special tokens not counted)."""

    scheme: str
    chars: int
    bytes: int
    filler: int
    straddling: int

    @property
    def bytes_per_char(self) -> float:
        return self.bytes / self.chars if self.chars else 0.0

    @property
    def chars_per_step(self) -> float:
        """Characters carried by one 4-byte model step."""
        return 4 * self.chars / self.bytes if self.bytes else 0.0

    @property
    def straddling_share(self) -> float:
        """Share of characters whose bytes cross a 4-byte block boundary."""
        return self.straddling / self.chars if self.chars else 0.0

    @property
    def filler_share(self) -> float:
        return self.filler / self.bytes if self.bytes else 0.0


@dataclass(frozen=True)
class ByteAutomaton:
    """A deterministic automaton over bytes that accepts exactly the byte
    streams strict decoding accepts (a few hundred states).

    ``next[state, byte]`` is the state after ``byte``, or -1 when that byte
    makes the stream invalid. ``start`` is the state at the start of a stream
    (and after any whole number of valid blocks under ``jpblock``).
    ``code_start[state]`` is True when no code is unfinished, i.e. the next
    byte starts a character, a special block or filler: a complete stream
    ends in such a state, and stop sequences may only match from one.
    ``offset[state]`` is the next byte's offset within its 4-byte block.
    """

    next: np.ndarray
    start: int
    code_start: np.ndarray
    offset: np.ndarray

    @property
    def num_states(self) -> int:
        return len(self.code_start)

    def run(self, data: bytes, state: int | None = None) -> int:
        """The state after ``data`` (from ``start`` by default), or -1."""
        s = self.start if state is None else state
        for b in data:
            s = int(self.next[s, b])
            if s < 0:
                return -1
        return s


Side = Literal["right", "left"]
PaddingSide = Side
Padding = Literal["longest", "max_length"]
Tensors = Literal["np", "pt"]

# Limits beyond any real row: clamped, so that Rust sizes (usize) never overflow.
_HUGE = sys.maxsize - sys.maxsize % BLOCK


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}")
    return value  # type: ignore[return-value]


def _length(name: str, value: object) -> int:
    """A positive whole number of blocks, clamped to what memory could ever hold."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value <= 0 or value % BLOCK:
        raise ValueError(f"{name} must be a positive multiple of {BLOCK} (whole blocks), not {value}")
    return min(value, _HUGE)


# The native arguments of the usual options, built once rather than per call:
# no truncation, and padding to the longest row on either side.
_NO_TRUNCATION = (None, "right")
_PLAIN_LAYOUTS = {
    (side, tensors, special): (None, None, None, side, tensors == "pt", special)
    for side in ("right", "left")
    for tensors in ("np", "pt")
    for special in (False, True)
}


def _specials(add_special_tokens: bool, add_bos: bool | None, add_eos: bool | None) -> tuple[bool, bool]:
    if add_bos is None and add_eos is None:  # the usual call
        both = bool(add_special_tokens)
        return both, both
    bos = bool(add_special_tokens) if add_bos is None else bool(add_bos)
    eos = bool(add_special_tokens) if add_eos is None else bool(add_eos)
    return bos, eos


class Codec(_Codec):
    """A byte codec: ``Codec(scheme="jpblock")`` or ``Codec(scheme="utf8")``.

    ``special_tokens`` registers extra special tokens beyond ``<|bos|>``,
    ``<|eos|>`` and ``<|mask|>``: a dict of name -> id (ids 256..2**24-1) or a
    list of names (ids assigned from 256). Codecs are immutable, picklable and
    safe to share between threads.
    """

    __slots__ = ()

    bos_token = _constants.BOS
    eos_token = _constants.EOS
    mask_token = _constants.MASK
    pad_token_id = _constants.PAD_ID

    @property
    def special_tokens(self) -> dict[str, int]:
        """Every special token's name and id."""
        return dict(self._special_tokens())

    def _extra_special_tokens(self) -> dict[str, int]:
        return {name: i for name, i in self._special_tokens() if i >= _constants.FIRST_USER_SPECIAL_ID}

    def __reduce__(self):
        return (type(self), (self.scheme, self._extra_special_tokens() or None))

    def __repr__(self) -> str:
        extras = self._extra_special_tokens()
        more = f", special_tokens={extras!r}" if extras else ""
        return f"Codec(scheme={self.scheme!r}{more})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Codec):
            return NotImplemented
        return self.scheme == other.scheme and self._special_tokens() == other._special_tokens()

    def __hash__(self) -> int:
        return hash((self.scheme, tuple(self._special_tokens())))

    # encode(text, *, parse_special, add_special_tokens, add_bos, add_eos) is
    # the native method itself: a prompt-sized call pays no Python frame.

    def encode_rows(
        self,
        texts: Sequence[str],
        *,
        max_length: int | None = None,
        truncation: bool = False,
        truncation_side: Side = "right",
        parse_special: bool = False,
        add_special_tokens: bool = False,
        add_bos: bool | None = None,
        add_eos: bool | None = None,
    ) -> list[bytes]:
        """Encodes each text into its own unpadded row (whole blocks), on all
        cores for large batches. Truncation works as in :meth:`encode_batch`."""
        texts = self._texts(texts)
        bos, eos = _specials(add_special_tokens, add_bos, add_eos)
        cut = self._truncation(max_length, truncation, truncation_side)
        return self._encode_rows(texts, (bool(parse_special), bos, eos, cut))

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        padding_side: Side = "right",
        truncation_side: Side = "right",
        max_length: int | None = None,
        truncation: bool = False,
        padding: Padding = "longest",
        pad_to_multiple_of: int | None = None,
        parse_special: bool = False,
        add_special_tokens: bool = False,
        add_bos: bool | None = None,
        add_eos: bool | None = None,
        return_tensors: Tensors = "np",
        return_special_tokens_mask: bool = False,
    ) -> dict[str, Any]:
        """Encodes texts into one padded ``[B, L]`` batch.

        ``L`` is the longest encoded row (a multiple of 4), or ``max_length``
        with ``padding="max_length"``, rounded up to ``pad_to_multiple_of``.
        Shorter rows are filled with 0xFF on ``padding_side``;
        ``attention_mask`` is 1 over each row's own bytes (its final filler
        included) and 0 over the fill.

        With ``truncation=True`` a row keeps at most ``max_length`` bytes: its
        first whole blocks (``truncation_side="right"``) or its last ones
        (``"left"``); under ``utf8``, where a character may cross a block, a
        character cut at the edge becomes filler. The ``<|bos|>``/``<|eos|>``
        blocks are kept and the text is cut instead. Without truncation a
        longer row raises ValueError.

        ``return_tensors="np"`` gives uint8 arrays, ``"pt"`` int64 torch
        tensors. ``return_special_tokens_mask`` adds ``special_tokens_mask``:
        1 over special blocks and over padding, as transformers marks them.
        """
        texts = self._texts(texts)
        bos, eos = _specials(add_special_tokens, add_bos, add_eos)
        buffers = self._encode_batch(
            texts,
            (bool(parse_special), bos, eos, self._truncation(max_length, truncation, truncation_side)),
            self._layout(
                padding_side, padding, max_length, pad_to_multiple_of, return_tensors, return_special_tokens_mask
            ),
        )
        return _as_arrays(buffers, return_tensors)

    def pad_batch(
        self,
        rows: Iterable[Any],
        *,
        padding_side: Side = "right",
        padding: Padding = "longest",
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        truncation: bool = False,
        truncation_side: Side = "right",
        return_tensors: Tensors = "np",
        return_special_tokens_mask: bool = False,
    ) -> dict[str, Any]:
        """Pads encoded rows (bytes, uint8 arrays, lists of ints 0..255) into
        one batch, as :meth:`encode_batch` lays out text. Each row is first
        completed to whole blocks with filler (part of the row: mask 1), and
        with ``truncation=True`` keeps at most ``max_length`` bytes of whole
        blocks, from the right or left end."""
        _convert = _numpy()[1]
        if isinstance(rows, (bytes, bytearray, memoryview, str)):
            raise TypeError("rows must be a list of rows (bytes, arrays or lists of ints), not one row")
        data = [r if type(r) is bytes else _convert.as_bytes(r) for r in rows]
        buffers = self._pad_rows(
            data,
            self._truncation(max_length, truncation, truncation_side),
            self._layout(
                padding_side, padding, max_length, pad_to_multiple_of, return_tensors, return_special_tokens_mask
            ),
        )
        return _as_arrays(buffers, return_tensors)

    def special_tokens_mask(self, row: Any) -> np.ndarray:
        """uint8 array: 1 over each special block of an encoded row (``0xFE``
        at a block start), 0 elsewhere."""
        np, _convert = _numpy()
        data = row if type(row) is bytes else _convert.as_bytes(row)
        return np.frombuffer(self._special_tokens_mask(data), dtype=np.uint8).copy()

    @staticmethod
    def _texts(texts: Sequence[str]) -> list[str]:
        if isinstance(texts, str):
            raise TypeError("texts must be a list of str, not a single str (use encode for one text)")
        return texts if isinstance(texts, list) else list(texts)

    @staticmethod
    def _truncation(max_length: int | None, truncation: bool, side: str) -> tuple[int | None, str]:
        """The native truncation arguments: (bytes to keep or None, side)."""
        if not truncation and side == "right":  # the usual call: nothing to check
            return _NO_TRUNCATION
        side = _choice("truncation_side", side, ("right", "left"))
        if not truncation:
            return None, side
        if max_length is None:
            raise ValueError("truncation needs max_length")
        return _length("max_length", max_length), side

    @staticmethod
    def _layout(
        padding_side: str,
        padding: str,
        max_length: int | None,
        multiple: int | None,
        return_tensors: str,
        special_mask: bool,
    ) -> tuple[int | None, int | None, int | None, str, bool, bool]:
        """The native layout arguments: (width, multiple_of, max_length,
        padding_side, int64, special_mask)."""
        if padding == "longest" and max_length is None and multiple is None:
            # The usual call (a prompt, a collator's batch): looked up, not
            # rebuilt and re-checked, which a short call notices (issue 10).
            try:
                plain = _PLAIN_LAYOUTS.get((padding_side, return_tensors, special_mask))
            except TypeError:  # an unhashable argument: the checks below name it
                plain = None
            if plain is not None:
                return plain
        _choice("padding", padding, ("longest", "max_length"))
        _choice("return_tensors", return_tensors, ("np", "pt"))
        if padding == "max_length" and max_length is None:
            raise ValueError("padding='max_length' needs max_length")
        limit = None if max_length is None else _length("max_length", max_length)
        if multiple is not None and (isinstance(multiple, bool) or not isinstance(multiple, int) or multiple <= 0):
            raise ValueError(f"pad_to_multiple_of must be a positive int, not {multiple!r}")
        return (
            limit if padding == "max_length" else None,
            None if multiple is None else min(multiple, _HUGE),
            limit,
            _choice("padding_side", padding_side, ("right", "left")),
            return_tensors == "pt",  # torch wants int64 ids: written directly, in parallel
            bool(special_mask),
        )

    def decode_batch(
        self,
        rows: Iterable[Any] | np.ndarray,
        *,
        errors: Literal["strict", "replace"] = "strict",
        skip_special_tokens: bool = False,
    ) -> list[str]:
        """Decodes a ``[B, L]`` array/tensor or a list of rows (bytes, arrays,
        lists of ints). Fill bytes (0xFF) are skipped wherever they are, so
        padded rows need no mask.

        Strict by default, as :meth:`decode` is: a malformed row raises
        :class:`DecodeError` naming the row (``.row``) and the byte offset
        (``.position``). ``errors="replace"`` never fails and puts U+FFFD in
        place of each malformed unit (for raw model output, say)."""
        _convert = _numpy()[1]
        if _convert.is_matrix(rows):
            n_rows, width = rows.shape
            if width == 0 or n_rows == 0:
                return [""] * n_rows
            # A tensor as its numpy view (copied off the GPU). The bindings copy
            # uint8 once and narrow C-contiguous int64 (a model's ids) in one
            # checked pass; other layouts go through _convert.as_uint8_matrix.
            data = _convert.to_numpy(rows)
            return self._decode_matrix(data, width, errors=errors, skip_special_tokens=skip_special_tokens)
        if isinstance(rows, (bytes, bytearray, memoryview, str)):
            raise TypeError("rows must be a batch (a 2-D array or a list of rows); use decode for one row")
        if getattr(rows, "ndim", 2) != 2:
            raise ValueError(f"expected a 2-D batch or a list of rows, got an array of shape {tuple(rows.shape)}")
        as_bytes = [r if type(r) is bytes else _convert.as_bytes(r) for r in rows]
        return self._decode_rows(as_bytes, errors=errors, skip_special_tokens=skip_special_tokens)

    def byte_automaton(self) -> ByteAutomaton:
        """The automaton of valid encoded streams under this codec (its scheme
        and special tokens), explored from the strict decoder itself.

        A generator that picks bytes one at a time can keep its output
        decodable by following it: see :class:`ByteAutomaton`.
        """
        np = _numpy()[0]

        raw, start, code_start, offset = self._byte_automaton()
        nxt = np.frombuffer(raw, dtype="<i4").reshape(-1, 256).astype(np.int32)
        return ByteAutomaton(
            next=nxt,
            start=int(start),
            code_start=np.array(code_start, dtype=bool),
            offset=np.frombuffer(bytes(offset), dtype=np.uint8).copy(),
        )

    def stats(self, text: str) -> EncodingStats:
        """Counts for ``text`` encoded alone under this codec's scheme."""
        return EncodingStats(self.scheme, *self._stats(text))


def _as_arrays(buffers: tuple, return_tensors: str) -> dict[str, Any]:
    """The native layout's buffers as ``[rows, width]`` arrays or tensors,
    viewing the buffers in place (``np.ndarray`` over a buffer is about twice
    as fast as ``frombuffer(...).reshape``, which a short prompt notices)."""
    np = _numpy()[0]

    ids, mask, special, rows, width = buffers
    shape = (rows, width)
    dtype = np.int64 if return_tensors == "pt" else np.uint8
    out = {"input_ids": np.ndarray(shape, dtype, ids), "attention_mask": np.ndarray(shape, dtype, mask)}
    if special is not None:
        out["special_tokens_mask"] = np.ndarray(shape, dtype, special)
    if return_tensors == "pt":
        from ._extras import requires

        with requires('return_tensors="pt"'):
            import torch  # only here: importing the codec never imports torch

        return {k: torch.from_numpy(v) for k, v in out.items()}
    return out
