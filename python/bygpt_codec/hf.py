"""A transformers tokenizer over the codec (``pip install "bygpt-codec[hf]"``).

Token ids 0..255 are bytes. A special token is not one id but a 4-byte block
(``FE 00 00 01`` for ``<|bos|>``), so encoded input never holds one id for it:
special-token strings in the text are parsed into their blocks (the
transformers default), and ``decode`` renders blocks back as their names.

transformers still wants one id per special token for its bookkeeping
(``bos_token_id``, ``len(tokenizer)``, ``convert_tokens_to_ids``), so each
special token also has a *virtual* id from 256 up: ``<|bos|>`` 256,
``<|eos|>`` 257, ``<|mask|>`` 258, then the tokens added with ``add_tokens``
(259, 260, ...). The mapping between virtual ids and special ids is a pure
function (:func:`virtual_id`, :func:`special_id`, :func:`virtual_id_block`),
defined here and nowhere else. Virtual ids never appear in encoded input;
passed back to ``decode`` (or to the model wrapper's ``generate`` as a stop
token) they stand for their block. The bytes themselves, in the list-of-int
form the byGPT-JP card passes to ``generate``, are
``tokenizer.bos_token_bytes`` and ``tokenizer.eos_token_bytes``.

Padding, truncation and special-token masks come from the codec
(``Codec.encode_rows``, ``Codec.pad_batch``, ``Codec.special_tokens_mask``), in
whole 4-byte blocks. What differs from other transformers tokenizers, and why,
is listed in docs/transformers.md.

Importing this module imports transformers; ``import bygpt_codec`` does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._codec import Codec
from ._errors import DecodeError
from ._extras import requires
from .collator import IGNORE_INDEX, DataCollatorForByteLM
from .constants import (
    BLOCK,
    BOS,
    BOS_ID,
    EOS,
    EOS_ID,
    FILLER,
    FIRST_USER_SPECIAL_ID,
    MASK,
    MASK_ID,
    MAX_SPECIAL_ID,
    PAD_ID,
    special_block,
)

with requires("bygpt_codec.hf", "hf"):  # a missing transformers names the extra to install
    from transformers import PreTrainedTokenizer
    from transformers.tokenization_utils_base import BatchEncoding, PaddingStrategy, TruncationStrategy
    from transformers.utils.chat_template_utils import encode_marked_chat

BYTE_IDS = 256  # ids 0..255 are the bytes themselves
PAD_TOKEN = f"<0x{PAD_ID:02X}>"  # the filler byte: pad_token_id 255
_BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(BYTE_IDS)]
_BYTE_VOCAB = {token: b for b, token in enumerate(_BYTE_TOKENS)}
_BUILTIN_SPECIAL_IDS = tuple(sorted((BOS_ID, EOS_ID, MASK_ID)))
_BUILTIN_NAMES = {BOS_ID: BOS, EOS_ID: EOS, MASK_ID: MASK}
_FILL = bytes([FILLER])

# Written next to tokenizer_config.json so AutoTokenizer(..., trust_remote_code=True)
# finds the class; it only imports the installed package (no network, no copy).
REMOTE_CODE_FILE = "tokenization_bygpt.py"
REMOTE_CODE = '''"""Loads bygpt_codec's tokenizer for transformers' trust_remote_code."""

from bygpt_codec.hf import ByGPTTokenizer

__all__ = ["ByGPTTokenizer"]
'''


# -- virtual ids: the one place that maps them to special ids and blocks -------


def virtual_id(special: int) -> int:
    """The tokenizer id of the special token whose codec id is ``special``:
    256.. for the named tokens, then the added tokens (codec ids from
    ``FIRST_USER_SPECIAL_ID`` up) right after them."""
    if special in _BUILTIN_SPECIAL_IDS:
        return BYTE_IDS + _BUILTIN_SPECIAL_IDS.index(special)
    if FIRST_USER_SPECIAL_ID <= special <= MAX_SPECIAL_ID:
        return BYTE_IDS + len(_BUILTIN_SPECIAL_IDS) + special - FIRST_USER_SPECIAL_ID
    raise ValueError(f"{special} is not a special token id")


def special_id(virtual: int) -> int:
    """The codec id of the special token with tokenizer id ``virtual`` (inverse of :func:`virtual_id`)."""
    k = int(virtual) - BYTE_IDS
    if 0 <= k < len(_BUILTIN_SPECIAL_IDS):
        return _BUILTIN_SPECIAL_IDS[k]
    if k >= len(_BUILTIN_SPECIAL_IDS) and FIRST_USER_SPECIAL_ID + k - len(_BUILTIN_SPECIAL_IDS) <= MAX_SPECIAL_ID:
        return FIRST_USER_SPECIAL_ID + k - len(_BUILTIN_SPECIAL_IDS)
    raise ValueError(f"id {virtual} is neither a byte (0..255) nor a special token id")


def virtual_id_block(virtual: int) -> bytes:
    """The 4-byte block a virtual special-token id stands for."""
    return special_block(special_id(virtual))


# -- saving without leaving a half-written directory --------------------------


@contextlib.contextmanager
def staged_directory(directory: str | os.PathLike) -> Iterator[Path]:
    """Yields an empty directory next to ``directory`` to write into; on
    success its files replace those of ``directory`` (created if missing,
    other files kept), on failure it is removed and ``directory`` is left as
    it was. The final step is a rename (one for a new directory, one per file
    otherwise) on the same file system, so a failed save never leaves a
    half-written checkpoint."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{target} exists and is not a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        stage = target.parent / f".{target.name}.saving-{secrets.token_hex(4)}"
        try:
            stage.mkdir()
            break
        except FileExistsError:
            continue
    try:
        yield stage
        if not target.exists():
            os.rename(stage, target)
            return
        for path in sorted(stage.rglob("*")):
            dest = target / path.relative_to(stage)
            if path.is_dir():
                dest.mkdir(exist_ok=True)
            else:
                os.replace(path, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


class NoSourceCopy:
    """transformers' auto classes call ``register_for_auto_class`` on
    remote-code classes, after which ``save_pretrained`` copies the module
    that defines the class, and every module it imports, into the directory.
    For these packages that is wrong (and fails for the compiled codec): a
    saved directory already carries ``auto_map`` and small files that import
    the installed packages. So registering is a no-op."""

    @classmethod
    def register_for_auto_class(cls, auto_class: Any = None) -> None:
        return None


def _in_directory(files: Any, stage: Path, directory: str | os.PathLike) -> tuple[str, ...]:
    """The paths transformers returned for ``stage``, moved to ``directory``."""
    return tuple(str(Path(directory) / Path(f).relative_to(stage)) for f in files or ())


# -- the tokenizer --------------------------------------------------------------


def _side(value: str | None, default: str, name: str) -> str:
    side = default if value is None else value
    if side not in ("left", "right"):
        raise ValueError(f"{name} must be 'left' or 'right', not {side!r}")
    return side


class ByGPTTokenizer(NoSourceCopy, PreTrainedTokenizer):
    """Byte tokenizer for byGPT models (jpblock by default).

    ``tokenizer(texts, return_tensors="pt", padding="longest",
    add_special_tokens=False)`` gives ``input_ids`` and ``attention_mask``
    padded in whole 4-byte blocks of the filler byte (``pad_token_id`` 255),
    on the left by default (what generation needs). ``add_special_tokens=True``
    prepends the ``<|bos|>`` block (``add_bos_token``) and appends ``<|eos|>``
    only with ``add_eos_token=True``, as Llama tokenizers do; truncation keeps
    both and cuts the text. Lengths (``max_length``, ``pad_to_multiple_of``)
    are counted in bytes and kept to whole blocks: rounded down for
    truncation, up for padding.

    ``add_tokens`` registers new tokens with the codec: each becomes a 4-byte
    special block, counts in ``len(tokenizer)`` and survives save and reload.
    The model needs no new embeddings for them.
    """

    vocab_files_names: dict[str, str] = {}
    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "left"

    def __init__(
        self,
        scheme: str = "jpblock",
        bos_token: str = BOS,
        eos_token: str = EOS,
        mask_token: str = MASK,
        pad_token: str = PAD_TOKEN,
        add_bos_token: bool = True,
        add_eos_token: bool = False,
        **kwargs: Any,
    ) -> None:
        if str(pad_token) != PAD_TOKEN:
            raise ValueError(self._fixed_pad_message(pad_token))
        self.scheme = scheme
        self.add_bos_token = add_bos_token
        self.add_eos_token = add_eos_token
        # Tokens added before a save come back as added_tokens_decoder entries;
        # those past the named ones are the codec's extra special tokens.
        decoder = kwargs.get("added_tokens_decoder") or {}
        first_added = virtual_id(FIRST_USER_SPECIAL_ID)
        extras = {_content(token): special_id(int(i)) for i, token in decoder.items() if int(i) >= first_added}
        self._set_codec(Codec(scheme=scheme, special_tokens=extras or None))
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(
            bos_token=bos_token,
            eos_token=eos_token,
            mask_token=mask_token,
            pad_token=pad_token,
            scheme=scheme,
            add_bos_token=add_bos_token,
            add_eos_token=add_eos_token,
            **kwargs,
        )

    def _set_codec(self, codec: Codec) -> None:
        self.codec = codec
        specials = codec.special_tokens
        self._special_names = {i: name for name, i in specials.items()}
        self._vocab = {**_BYTE_VOCAB, **{name: virtual_id(i) for name, i in specials.items()}}

    @staticmethod
    def _fixed_pad_message(value: Any) -> str:
        return (
            f"ByGPTTokenizer pads with whole blocks of the filler byte (pad_token {PAD_TOKEN!r}, "
            f"pad_token_id {PAD_ID}); the pad token cannot be set to {value!r}"
        )

    def __setattr__(self, key: str, value: Any) -> None:
        if key in ("pad_token", "pad_token_id") and "_special_tokens_map" in self.__dict__:
            if value not in (PAD_TOKEN, PAD_ID) and str(value) != PAD_TOKEN:
                raise ValueError(self._fixed_pad_message(value))
        super().__setattr__(key, value)

    # -- what transformers needs of a vocabulary ------------------------------

    @property
    def vocab_size(self) -> int:
        return BYTE_IDS

    def get_vocab(self) -> dict[str, int]:
        return dict(self._vocab)

    def _convert_token_to_id(self, token: str) -> int:
        try:
            return self._vocab[token]
        except KeyError:
            raise ValueError(f"{token!r} is not a byte token (<0x00>..<0xFF>) or a special token") from None

    def _convert_id_to_token(self, index: int) -> str:
        if 0 <= index < BYTE_IDS:
            return _BYTE_TOKENS[index]
        name = self._special_names.get(special_id(index))
        if name is None:
            raise ValueError(f"id {index} is not a special token of this tokenizer")
        return name

    def _add_tokens(self, new_tokens: list[Any], special_tokens: bool = False) -> int:
        """New tokens become extra special tokens of the codec (4-byte blocks,
        ids from ``FIRST_USER_SPECIAL_ID`` up, virtual ids right after the
        named tokens); transformers then records them as added tokens."""
        names = list(dict.fromkeys(str(t) for t in new_tokens or () if str(t) and str(t) not in self._vocab))
        if names:
            extras = {name: i for name, i in self.codec.special_tokens.items() if i >= FIRST_USER_SPECIAL_ID}
            start = max(extras.values(), default=FIRST_USER_SPECIAL_ID - 1) + 1
            extras.update({name: start + k for k, name in enumerate(names)})
            self._set_codec(Codec(scheme=self.scheme, special_tokens=extras))
        super()._add_tokens(new_tokens, special_tokens=special_tokens)
        return len(names)

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return self.tokenize(text, **kwargs)

    def tokenize(
        self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs: Any
    ) -> list[str]:
        """The encoding as tokens: one ``<0xNN>`` per byte, one name per special block,
        so ``convert_tokens_to_ids(tokenize(t))`` decodes as ``encode(t)`` does."""
        if pair is not None:
            raise ValueError("ByGPTTokenizer encodes single texts, not pairs")
        split = kwargs.get("split_special_tokens", self.split_special_tokens)
        data = self.codec.encode(text, parse_special=not split)
        tokens = self._bytes_to_tokens(data)
        if add_special_tokens:
            bos, eos = self._frame_blocks(True)
            tokens = self._bytes_to_tokens(bos) + tokens + self._bytes_to_tokens(eos)
        return tokens

    def _bytes_to_tokens(self, data: bytes) -> list[str]:
        mask = self.codec.special_tokens_mask(data)
        tokens: list[str] = []
        k = 0
        while k < len(data):
            if mask[k] and k % BLOCK == 0:
                tokens.append(self._special_names[int.from_bytes(data[k + 1 : k + BLOCK], "big")])
                k += BLOCK
            else:
                tokens.append(_BYTE_TOKENS[data[k]])
                k += 1
        return tokens

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self._decode(self.convert_tokens_to_ids(tokens))

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        return ()  # the vocabulary is the codec itself

    # -- the byte forms the card passes to generate ---------------------------

    @property
    def bos_token_bytes(self) -> list[int]:
        """The ``<|bos|>`` block as byte ids: ``[254, 0, 0, 1]``."""
        return list(self.codec.special_bytes(str(self.bos_token)))

    @property
    def eos_token_bytes(self) -> list[int]:
        """The ``<|eos|>`` block as byte ids, e.g. for ``generate(eos_token_id=[tokenizer.eos_token_bytes])``."""
        return list(self.codec.special_bytes(str(self.eos_token)))

    # -- ids <-> bytes ------------------------------------------------------------

    def _ids_to_bytes(self, ids: Any) -> bytes:
        """Byte ids as they are; a virtual special id as its block, starting a
        block (the bytes before it are completed with filler first)."""
        if isinstance(ids, (bytes, bytearray)):
            return bytes(ids)
        values = np.asarray(ids, dtype=np.int64).reshape(-1)
        if values.size == 0 or (values.min() >= 0 and values.max() < BYTE_IDS):
            return values.astype(np.uint8).tobytes()
        out = bytearray()
        for v in values.tolist():
            if 0 <= v < BYTE_IDS:
                out.append(v)
            elif v >= BYTE_IDS:
                out += _FILL * (-len(out) % BLOCK) + virtual_id_block(v)
            else:
                raise ValueError(f"id {v} is neither a byte (0..255) nor a special token id")
        return bytes(out)

    def _frame_blocks(self, add_special_tokens: bool) -> tuple[bytes, bytes]:
        """The blocks ``add_special_tokens`` puts before and after a row."""
        bos = add_special_tokens and self.add_bos_token and self.bos_token
        eos = add_special_tokens and self.add_eos_token and self.eos_token
        return (
            self.codec.special_bytes(str(self.bos_token)) if bos else b"",
            self.codec.special_bytes(str(self.eos_token)) if eos else b"",
        )

    def _rows(
        self,
        items: list[Any],
        add_special_tokens: bool,
        max_length: int | None,
        truncation_side: str,
        split_special_tokens: bool,
    ) -> list[bytes]:
        """Encoded rows (whole blocks, unpadded), cut to ``max_length`` when it is given."""
        bos, eos = self._frame_blocks(add_special_tokens)
        if max_length is not None and max_length < len(bos) + len(eos):
            raise ValueError(f"max_length {max_length} leaves no room for the special-token blocks")
        if all(isinstance(t, str) for t in items):
            # The codec adds the <|bos|> and <|eos|> blocks itself, and keeps
            # them when it truncates; tokens of other names go around its rows.
            codec_bos, codec_eos = bos == self.codec.special_bytes(BOS), eos == self.codec.special_bytes(EOS)
            pre, post = (b"" if codec_bos else bos), (b"" if codec_eos else eos)
            budget = None if max_length is None else max_length - len(pre) - len(post)
            rows = self._text_rows(items, budget, truncation_side, split_special_tokens, codec_bos, codec_eos)
        else:
            pre, post = bos, eos
            rows = [self._ids_to_bytes(t) for t in items]
            if max_length is not None:
                rows = self._cut_rows(rows, max_length - len(bos) - len(eos), truncation_side)
            rows = [r + _FILL * (-len(r) % BLOCK) for r in rows]
        return [pre + r + post for r in rows] if pre or post else rows

    def _text_rows(self, texts, budget, side, split, add_bos, add_eos) -> list[bytes]:
        if budget == 0:
            return [b""] * len(texts)
        return self.codec.encode_rows(
            texts,
            max_length=budget,
            truncation=budget is not None,
            truncation_side=side,
            parse_special=not split,
            add_bos=add_bos,
            add_eos=add_eos,
        )

    def _cut_rows(self, rows: list[bytes], budget: int, side: str) -> list[bytes]:
        if budget <= 0:
            return [b""] * len(rows)
        if all(len(r) <= budget for r in rows):
            return rows
        out = self.codec.pad_batch(rows, padding_side="right", max_length=budget, truncation=True, truncation_side=side)
        return [ids[mask == 1].tobytes() for ids, mask in zip(out["input_ids"], out["attention_mask"], strict=True)]

    # -- encoding ---------------------------------------------------------------

    @staticmethod
    def _is_batch(text: Any) -> bool:
        if isinstance(text, (list, tuple)):
            return len(text) == 0 or not isinstance(text[0], (int, np.integer))
        return isinstance(text, np.ndarray) and text.ndim == 2

    def _encode_plus(  # type: ignore[override]
        self,
        text: Any,
        text_pair: Any = None,
        add_special_tokens: bool = True,
        padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
        truncation_strategy: TruncationStrategy = TruncationStrategy.DO_NOT_TRUNCATE,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors: Any = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        split_special_tokens: bool | None = None,
        truncation_side: str | None = None,
        prepend_batch_axis: bool | None = None,
        **kwargs: Any,
    ) -> BatchEncoding:
        batched = self._is_batch(text)
        if text_pair is not None or (batched and any(_is_pair(t) for t in text)):
            raise ValueError("ByGPTTokenizer encodes single texts, not pairs: join a pair into one text first")
        if is_split_into_words:
            raise ValueError("ByGPTTokenizer takes whole texts, not pre-tokenized words (is_split_into_words)")
        if return_offsets_mapping:
            raise ValueError("ByGPTTokenizer has no offsets mapping (it is not a tokenizers-library tokenizer)")
        if return_overflowing_tokens:
            raise ValueError("ByGPTTokenizer does not return overflowing tokens: truncation keeps whole blocks")
        items = list(text) if batched else [text]
        if kwargs.get("sanitize_control_tokens"):
            items = [encode_marked_chat(self, t) if isinstance(t, str) else t for t in items]
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        side = _side(truncation_side, self.truncation_side, "truncation_side")
        truncate = truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE and max_length is not None
        limit = self._whole_blocks(max_length, down=True) if truncate else None
        rows = self._rows(items, add_special_tokens, limit, side, split)
        if not truncate and rows:
            self._eventual_warn_about_too_long_sequence(max(rows, key=len), max_length, verbose)
        data = self._pad_rows(
            rows,
            padding_strategy=padding_strategy,
            max_length=limit if truncate else max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_attention_mask=return_attention_mask,
            return_special_tokens_mask=return_special_tokens_mask,
            return_token_type_ids=return_token_type_ids,
            as_lists=return_tensors is None,
        )
        if return_length:
            data["length"] = [len(r) for r in rows]
        if not batched:
            data = {k: v[0] for k, v in data.items()}
        prepend = not batched if prepend_batch_axis is None else prepend_batch_axis
        return BatchEncoding(data, tensor_type=return_tensors, prepend_batch_axis=prepend)

    @staticmethod
    def _whole_blocks(length: int | None, down: bool) -> int | None:
        if length is None:
            return None
        if down:
            if length < BLOCK:
                raise ValueError(f"max_length {length} is less than one {BLOCK}-byte block")
            return length - length % BLOCK
        return -(-length // BLOCK) * BLOCK

    def _pad_rows(
        self,
        rows: list[Any],
        *,
        padding_strategy: PaddingStrategy,
        max_length: int | None,
        pad_to_multiple_of: int | None,
        padding_side: str | None,
        return_attention_mask: bool | None,
        return_special_tokens_mask: bool,
        return_token_type_ids: bool | None,
        as_lists: bool,
        given: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """input_ids and the masks for encoded rows, padded by the codec as
        the strategy says. ``given``: masks (and labels) that came with the
        rows, kept where the rows are, and padded like them."""
        given = given or {}
        pad = padding_strategy != PaddingStrategy.DO_NOT_PAD
        if pad and padding_strategy == PaddingStrategy.MAX_LENGTH and max_length is None:
            pad = False
        if pad:
            side = _side(padding_side, self.padding_side, "padding_side")
            longest = max((len(r) + (-len(r) % BLOCK) for r in rows), default=0)
            width = self._whole_blocks(max_length, down=False) if padding_strategy == PaddingStrategy.MAX_LENGTH else 0
            out = self.codec.pad_batch(
                rows,
                padding_side=side,
                padding="max_length" if width else "longest",
                max_length=max(width, longest) if width else None,
                pad_to_multiple_of=pad_to_multiple_of,
                return_special_tokens_mask=return_special_tokens_mask,
            )
            ids, mask = out["input_ids"].astype(np.int64), out["attention_mask"].astype(np.int64)
            padding = mask == 0  # what the codec added: given masks do not change this
            special = out.get("special_tokens_mask")
            if special is not None:
                special = np.where(padding, 1, special).astype(np.int64)  # transformers marks padding 1
            extra = self._place_given(given, rows, ids.shape[1], side)
            if "attention_mask" in extra:
                mask = np.where(padding, 0, extra.pop("attention_mask"))
            if "special_tokens_mask" in extra and special is not None:
                special = np.where(padding, 1, extra.pop("special_tokens_mask"))
            data: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, **extra}
            if special is not None:
                data["special_tokens_mask"] = special
            if as_lists:
                data = {k: v.tolist() for k, v in data.items()}
        else:
            ids = [_row_list(r) for r in rows]
            data = {"input_ids": ids, "attention_mask": given.get("attention_mask") or [[1] * len(r) for r in ids]}
            if return_special_tokens_mask:
                data["special_tokens_mask"] = given.get("special_tokens_mask") or [
                    self.codec.special_tokens_mask(bytes(r)).astype(np.int64).tolist() for r in ids
                ]
            data.update({k: v for k, v in given.items() if k not in data})
        if return_attention_mask is False:
            data.pop("attention_mask")
        if return_token_type_ids:
            data["token_type_ids"] = [[0] * len(r) for r in data["input_ids"]]
            if not as_lists:
                data["token_type_ids"] = np.asarray(data["token_type_ids"], dtype=np.int64)
        return data

    @staticmethod
    def _place_given(given: Mapping[str, Any], rows: list[Any], width: int, side: str) -> dict[str, np.ndarray]:
        """Per-byte arrays that came with the rows, laid out as the codec laid
        out the rows: a row's completing filler takes the value of its last
        byte; padding gets 0 (masks) or -100 (labels)."""
        out = {}
        for key, fill in (("attention_mask", 0), ("special_tokens_mask", 1), ("labels", IGNORE_INDEX)):
            values = given.get(key)
            if values is None:
                continue
            grid = np.full((len(rows), width), fill, dtype=np.int64)
            for i, (row, v) in enumerate(zip(rows, values, strict=True)):
                v = np.asarray(v, dtype=np.int64).reshape(-1)
                n = len(row) + (-len(row) % BLOCK)
                start = 0 if side == "right" else width - n
                grid[i, start : start + len(v)] = v
                if len(v) and key != "labels":
                    grid[i, start + len(v) : start + n] = v[-1]
                elif key == "labels" and len(v):
                    grid[i, start + len(v) : start + n] = fill if v[-1] == IGNORE_INDEX else FILLER
            out[key] = grid
        return out

    def pad(  # type: ignore[override]
        self,
        encoded_inputs: Any,
        padding: bool | str | PaddingStrategy = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: Any = None,
        verbose: bool = True,
    ) -> BatchEncoding:
        """Pads encoded inputs (one, a batch, or a list of them, as transformers'
        ``pad`` takes them) with the codec, in whole blocks of filler.

        ``attention_mask`` and ``special_tokens_mask`` that come with the
        inputs are kept and padded; so is ``labels`` when its rows are as long
        as the ``input_ids`` rows (padding -100), so that ``Trainer``'s default
        collator works on causal-LM data. Other keys pass through unchanged.
        """
        if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
            encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0].keys()}
        if "input_ids" not in encoded_inputs:
            raise ValueError(
                "You should supply an encoding or a list of encodings to this method that includes input_ids, "
                f"but you provided {list(encoded_inputs.keys())}"
            )
        inputs = dict(encoded_inputs)
        ids = inputs.pop("input_ids")
        if return_tensors is None:
            return_tensors = _tensor_type(ids)
        batched = self._is_batch(ids) or _tensor_ndim(ids) == 2
        rows = [_as_row(r) for r in ids] if batched else [_as_row(ids)]
        given: dict[str, Any] = {}
        for key in ("attention_mask", "special_tokens_mask", "labels"):
            if key in inputs:
                values = inputs[key] if batched else [inputs[key]]
                values = [_as_list(v) for v in values]
                if key != "labels" or all(
                    isinstance(v, list) and len(v) == len(r) for v, r in zip(values, rows, strict=True)
                ):
                    given[key] = values
                    inputs.pop(key)
        strategy, _, max_length, _ = self._get_padding_truncation_strategies(
            padding=padding, max_length=max_length, verbose=verbose
        )
        data = self._pad_rows(
            rows,
            padding_strategy=strategy,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_attention_mask=return_attention_mask,
            return_special_tokens_mask="special_tokens_mask" in given,
            return_token_type_ids="token_type_ids" in inputs,
            as_lists=return_tensors is None,
            given=given,
        )
        inputs.pop("token_type_ids", None)
        data.update(inputs)
        if not batched:
            data = {k: v[0] if k in _PER_BYTE_KEYS else v for k, v in data.items()}
        return BatchEncoding(data, tensor_type=return_tensors)

    def prepare_for_model(  # type: ignore[override]
        self,
        ids: list[int],
        pair_ids: list[int] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str | PaddingStrategy = False,
        truncation: bool | str | TruncationStrategy = False,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        verbose: bool = True,
        prepend_batch_axis: bool = False,
        **kwargs: Any,
    ) -> BatchEncoding:
        """Frames, truncates and pads one row of ids, as ``__call__`` does for
        text; the other keywords are ``__call__``'s."""
        padding_strategy, truncation_strategy, max_length, kwargs = self._get_padding_truncation_strategies(
            padding=padding,
            truncation=truncation,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            verbose=verbose,
            **kwargs,
        )
        return self._encode_plus(
            list(ids),
            text_pair=pair_ids,
            add_special_tokens=add_special_tokens,
            padding_strategy=padding_strategy,
            truncation_strategy=truncation_strategy,
            max_length=max_length,
            pad_to_multiple_of=pad_to_multiple_of,
            verbose=verbose,
            prepend_batch_axis=prepend_batch_axis,
            **kwargs,
        )

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        if token_ids_1 is not None:
            raise ValueError("ByGPTTokenizer encodes single texts, not pairs")
        return list(self._rows([list(token_ids_0)], True, None, self.truncation_side, False)[0])

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return sum(len(block) for block in self._frame_blocks(True))

    def get_special_tokens_mask(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None, already_has_special_tokens: bool = False
    ) -> list[int]:
        """1 over every special block and over padding (whole blocks of
        filler), 0 elsewhere: filler inside text is text. Without
        ``already_has_special_tokens`` the mask is that of
        ``build_inputs_with_special_tokens(token_ids_0)``."""
        if token_ids_1 is not None:
            raise ValueError("ByGPTTokenizer encodes single texts, not pairs")
        row = self._ids_to_bytes(token_ids_0)
        if not already_has_special_tokens:
            row = bytes(self.build_inputs_with_special_tokens(list(row)))
        mask = self.codec.special_tokens_mask(row).astype(np.int64)
        whole = len(row) - len(row) % BLOCK
        blocks = np.frombuffer(row[:whole], dtype=np.uint8).reshape(-1, BLOCK)
        mask[:whole] |= np.repeat((blocks == FILLER).all(axis=1), BLOCK)
        return mask.tolist()

    def create_token_type_ids_from_sequences(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        return [0] * len(self.build_inputs_with_special_tokens(token_ids_0, token_ids_1))

    # -- decoding ---------------------------------------------------------------

    def _decode(  # type: ignore[override]
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        """Decodes byte ids (and virtual special ids) as the codec does.

        A list of ids need not start at a block boundary (a streamer keeps the
        last id of a line and goes on from there): if the bytes are not a
        valid stream from a block boundary but are from another offset, they
        are decoded from that offset. Valid readings of the same bytes from
        different offsets always give the same text, so this only ever
        replaces garbage with the text the bytes were encoded from."""
        errors = kwargs.get("errors", "replace")
        data = self._ids_to_bytes([token_ids] if isinstance(token_ids, (int, np.integer)) else token_ids)
        try:
            return self._decode_bytes(data, "strict", skip_special_tokens)
        except DecodeError:
            pass
        for shift in range(BLOCK):
            try:
                self.codec.incremental_decoder(errors="strict").decode(_FILL * shift + data)
            except DecodeError:
                continue
            return self._decode_bytes(_FILL * shift + data, errors, skip_special_tokens)
        return self._decode_bytes(data, errors, skip_special_tokens)

    def _decode_bytes(self, data: bytes, errors: str, skip_special_tokens: bool) -> str:
        if skip_special_tokens:
            # transformers skips the special tokens, not other added tokens.
            special = set(self.all_special_tokens)
            keep = {i for i, name in self._special_names.items() if i >= FIRST_USER_SPECIAL_ID and name not in special}
            if keep:
                data = self._drop_special_blocks(data, keep)
                skip_special_tokens = False
        return self.codec.decode(data, errors=errors, skip_special_tokens=skip_special_tokens)

    def _drop_special_blocks(self, data: bytes, keep: set[int]) -> bytes:
        mask = self.codec.special_tokens_mask(data).astype(bool)
        starts = np.flatnonzero(mask[::BLOCK]) * BLOCK
        for start in starts.tolist():
            if int.from_bytes(data[start + 1 : start + BLOCK], "big") in keep:
                mask[start : start + BLOCK] = False
        return np.frombuffer(data, dtype=np.uint8)[~mask].tobytes() if mask.any() else data

    # -- saving -----------------------------------------------------------------

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> tuple[str, ...]:
        """Saves as transformers does, plus what ``AutoTokenizer.from_pretrained(
        DIR, trust_remote_code=True)`` needs: an ``auto_map`` entry and the small
        ``tokenization_bygpt.py`` that imports this class (never a copy of this
        package's sources). The files are written to a staging directory first
        (see :func:`staged_directory`): a failed save changes nothing."""
        if kwargs.get("push_to_hub"):
            kwargs.setdefault("repo_id", Path(save_directory).name)
        with staged_directory(save_directory) as stage:
            files = super().save_pretrained(stage, *args, **kwargs)
            config_file = stage / "tokenizer_config.json"
            config = json.loads(config_file.read_text(encoding="utf-8"))
            config["auto_map"] = {"AutoTokenizer": [f"{REMOTE_CODE_FILE[:-3]}.ByGPTTokenizer", None]}
            config["tokenizer_class"] = "ByGPTTokenizer"
            config["add_bos_token"] = self.add_bos_token
            config["add_eos_token"] = self.add_eos_token
            config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            (stage / REMOTE_CODE_FILE).write_text(REMOTE_CODE, encoding="utf-8")
            saved = (*_in_directory(files, stage, save_directory), str(Path(save_directory) / REMOTE_CODE_FILE))
        return saved


def _is_pair(item: Any) -> bool:
    return isinstance(item, (list, tuple)) and len(item) > 0 and isinstance(item[0], (str, list, tuple))


_PER_BYTE_KEYS = ("input_ids", "attention_mask", "special_tokens_mask", "labels", "token_type_ids")


def _content(token: Any) -> str:
    return token["content"] if isinstance(token, Mapping) else str(token)


def _row_list(row: Any) -> list[int]:
    if isinstance(row, np.ndarray):
        return row.astype(np.int64).tolist()
    return [int(v) for v in row]


def _tensor_type(value: Any) -> str | None:
    first = value[0] if isinstance(value, (list, tuple)) and len(value) else value
    if type(first).__module__.startswith("torch"):
        return "pt"
    if isinstance(first, np.ndarray):
        return "np"
    return None


def _tensor_ndim(value: Any) -> int:
    return int(getattr(value, "ndim", 0))


def _as_row(row: Any) -> Any:
    """A row for the codec: bytes and lists as they are, arrays and tensors as uint8 arrays."""
    if isinstance(row, (bytes, bytearray, list)):
        return row
    if hasattr(row, "detach"):
        row = row.detach().cpu().numpy()
    row = np.asarray(row).reshape(-1)
    if row.dtype != np.uint8:
        if row.size and (row.min() < 0 or row.max() >= BYTE_IDS):
            raise ValueError(f"input_ids to pad must be byte ids 0..255, got {row.min()}..{row.max()}")
        row = row.astype(np.uint8)
    return row


def _as_list(value: Any) -> Any:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return value.tolist() if isinstance(value, np.ndarray) else value


__all__ = [
    "BYTE_IDS",
    "ByGPTTokenizer",
    "DataCollatorForByteLM",
    "NoSourceCopy",
    "PAD_TOKEN",
    "special_id",
    "staged_directory",
    "virtual_id",
    "virtual_id_block",
]
