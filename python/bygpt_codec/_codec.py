"""The Python face of the codec: the native class plus batch helpers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ._native import _Codec

if TYPE_CHECKING:
    import numpy as np

# numpy is imported only by the batch methods: `import bygpt_codec` stays
# light, so the command line starts fast and never spins up BLAS threads.

PaddingSide = Literal["right", "left"]


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


class Codec(_Codec):
    """A byte codec: ``Codec(scheme="jpblock")`` or ``Codec(scheme="utf8")``.

    ``special_tokens`` registers extra special tokens beyond ``<|bos|>``,
    ``<|eos|>`` and ``<|mask|>``: a dict of name -> id (ids 256..2**24-1) or a
    list of names (ids assigned from 256). Codecs are immutable, picklable and
    safe to share between threads.
    """

    __slots__ = ()

    bos_token = "<|bos|>"
    eos_token = "<|eos|>"
    mask_token = "<|mask|>"
    pad_token_id = 255

    @property
    def special_tokens(self) -> dict[str, int]:
        """Every special token's name and id."""
        return dict(self._special_tokens())

    def __reduce__(self):
        extras = {name: i for name, i in self._special_tokens() if i >= 256}
        return (type(self), (self.scheme, extras or None))

    def __repr__(self) -> str:
        extras = {name: i for name, i in self._special_tokens() if i >= 256}
        more = f", special_tokens={extras!r}" if extras else ""
        return f"Codec(scheme={self.scheme!r}{more})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Codec):
            return NotImplemented
        return self.scheme == other.scheme and self._special_tokens() == other._special_tokens()

    def __hash__(self) -> int:
        return hash((self.scheme, tuple(self._special_tokens())))

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        padding_side: PaddingSide = "right",
        max_length: int | None = None,
        truncation: bool = False,
        padding: Literal["longest", "max_length"] = "longest",
        parse_special: bool = False,
        add_special_tokens: bool = False,
        return_tensors: Literal["np", "pt"] = "np",
    ) -> dict[str, Any]:
        """Encodes texts into one padded ``[B, L]`` batch.

        ``L`` is the longest encoded row (a multiple of 4), or ``max_length``
        with ``padding="max_length"``. Shorter rows are filled with 0xFF on
        ``padding_side``; ``attention_mask`` is 1 over each row's own bytes
        (its final filler included) and 0 over the fill. With
        ``truncation=True`` rows are cut to ``max_length`` on character
        boundaries (keeping the ``<|eos|>`` block when adding special tokens);
        without it a longer row raises ValueError. ``return_tensors="np"``
        gives uint8 arrays, ``"pt"`` int64 torch tensors.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a list of str, not a single str (use encode for one text)")
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', not {padding_side!r}")
        if padding not in ("longest", "max_length"):
            raise ValueError(f"padding must be 'longest' or 'max_length', not {padding!r}")
        if return_tensors not in ("np", "pt"):
            raise ValueError(f"return_tensors must be 'np' or 'pt', not {return_tensors!r}")
        if max_length is not None:
            if isinstance(max_length, bool) or not isinstance(max_length, int):
                raise TypeError(f"max_length must be an int, not {type(max_length).__name__}")
            if max_length <= 0 or max_length % 4 or max_length > 2**62:
                raise ValueError(f"max_length must be a positive multiple of 4 (whole blocks), not {max_length}")
        elif padding == "max_length" or truncation:
            raise ValueError(f"{'truncation' if truncation else 'padding=max_length'} needs max_length")
        pt = return_tensors == "pt"
        ids_buf, mask_buf, rows, width = self._encode_batch(
            texts if isinstance(texts, list) else list(texts),
            left=padding_side == "left",
            max_length=max_length,
            truncation=bool(truncation),
            pad_to_max_length=padding == "max_length",
            parse_special=bool(parse_special),
            add_special_tokens=bool(add_special_tokens),
            int64=pt,  # torch wants int64 ids: written directly, in parallel
        )
        import numpy as np

        dtype = np.int64 if pt else np.uint8
        n = rows * width
        if n:
            ids = np.frombuffer(ids_buf, dtype=dtype).reshape(rows, width)
            mask = np.frombuffer(mask_buf, dtype=dtype).reshape(rows, width)
        else:
            ids = np.zeros((rows, width), dtype=dtype)
            mask = np.zeros((rows, width), dtype=dtype)
        if pt:
            import torch  # only here: importing the codec never imports torch

            return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        return {"input_ids": ids, "attention_mask": mask}

    def decode_batch(
        self,
        rows: Iterable[Any] | np.ndarray,
        *,
        errors: Literal["strict", "replace"] = "replace",
        skip_special_tokens: bool = False,
    ) -> list[str]:
        """Decodes a ``[B, L]`` array/tensor or a list of rows (bytes, arrays,
        lists of ints). Fill bytes (0xFF) are skipped wherever they are, so
        padded rows need no mask. Strict errors name the row (``.row``)."""
        import numpy as np

        from . import _convert

        if _convert.is_matrix(rows):
            n_rows, width = rows.shape
            if width == 0 or n_rows == 0:
                return [""] * n_rows
            if isinstance(rows, np.ndarray) and rows.dtype == np.uint8 and rows.flags.c_contiguous:
                data = rows  # read in place, no copy
            else:
                data = _convert.as_uint8_matrix(rows)[0]
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
        import numpy as np

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
