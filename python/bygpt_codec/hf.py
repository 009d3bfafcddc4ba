"""A transformers tokenizer over the codec (``pip install "bygpt-codec[hf]"``).

Token ids 0..255 are bytes. A special token is not one id but a 4-byte block
(``FE 00 00 01`` for ``<|bos|>``), so the tokenizer never emits one id for it:
special-token strings in the text are parsed into their blocks (the
transformers default), and ``decode`` renders blocks back as their names.

transformers still wants one id per special token for its bookkeeping
(``bos_token_id`` and friends), so each special token also has a *virtual*
id from 256 up (``<|bos|>`` 256, ``<|eos|>`` 257, ``<|mask|>`` 258). Virtual
ids never appear in encoded input; passed back to ``decode`` (or to the model
wrapper's ``generate`` as a stop token) they stand for their block. The bytes
themselves, in the list-of-int form the byGPT-JP card passes to ``generate``,
are ``tokenizer.bos_token_bytes`` and ``tokenizer.eos_token_bytes``.

Importing this module imports transformers; ``import bygpt_codec`` does not.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizer
from transformers.tokenization_utils_base import BatchEncoding, PaddingStrategy, TruncationStrategy

from ._codec import Codec
from .constants import BOS_ID, EOS_ID, FIRST_USER_SPECIAL_ID, MASK_ID, MAX_SPECIAL_ID, PAD_ID, special_block

BYTE_IDS = 256  # ids 0..255 are the bytes themselves
PAD_TOKEN = f"<0x{PAD_ID:02X}>"  # the filler byte: pad_token_id 255
_BUILTIN_SPECIAL_IDS = tuple(sorted((BOS_ID, EOS_ID, MASK_ID)))

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


def _byte_token(b: int) -> str:
    return f"<0x{b:02X}>"


class ByGPTTokenizer(NoSourceCopy, PreTrainedTokenizer):
    """Byte tokenizer for byGPT models (jpblock by default).

    ``tokenizer(texts, return_tensors="pt", padding="longest",
    add_special_tokens=False)`` gives ``input_ids`` and ``attention_mask``
    padded in whole 4-byte blocks with ``pad_token_id`` 255, on the left by
    default (what generation needs). ``add_special_tokens=True`` prepends the
    ``<|bos|>`` block (``add_bos_token``) and appends ``<|eos|>`` only with
    ``add_eos_token=True``, as Llama tokenizers do.
    """

    vocab_files_names: dict[str, str] = {}
    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "left"

    def __init__(
        self,
        scheme: str = "jpblock",
        bos_token: str = "<|bos|>",
        eos_token: str = "<|eos|>",
        mask_token: str = "<|mask|>",
        pad_token: str = PAD_TOKEN,
        add_bos_token: bool = True,
        add_eos_token: bool = False,
        **kwargs: Any,
    ) -> None:
        self.codec = Codec(scheme=scheme)
        self.scheme = scheme
        self.add_bos_token = add_bos_token
        self.add_eos_token = add_eos_token
        self._virtual_ids = {name: virtual_id(i) for name, i in self.codec.special_tokens.items()}
        self._virtual_blocks = {virtual_id(i): special_block(i) for i in self.codec.special_tokens.values()}
        self._vocab = {_byte_token(b): b for b in range(256)} | self._virtual_ids
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

    # -- what transformers needs of a vocabulary ------------------------------

    @property
    def vocab_size(self) -> int:
        return 256

    def get_vocab(self) -> dict[str, int]:
        return dict(self._vocab)

    def _convert_token_to_id(self, token: str) -> int:
        try:
            return self._vocab[token]
        except KeyError:
            raise ValueError(f"{token!r} is not a byte token (<0x00>..<0xFF>) or a special token") from None

    def _convert_id_to_token(self, index: int) -> str:
        if 0 <= index < 256:
            return _byte_token(index)
        for name, virtual in self._virtual_ids.items():
            if virtual == index:
                return name
        raise ValueError(f"id {index} is neither a byte (0..255) nor a special token id")

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return [_byte_token(b) for b in self.codec.encode(text, parse_special=True)]

    def tokenize(self, text: str, **kwargs: Any) -> list[str]:
        # One token per byte of the encoding, special blocks included, so
        # convert_tokens_to_ids(tokenize(t)) == encode(t, add_special_tokens=False).
        return self._tokenize(text)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self._decode(self.convert_tokens_to_ids(tokens))

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        return ()  # the vocabulary is the codec itself

    # -- the byte forms the card passes to generate ---------------------------

    @property
    def bos_token_bytes(self) -> list[int]:
        """The ``<|bos|>`` block as byte ids: ``[254, 0, 0, 1]``."""
        return list(self.codec.special_bytes(self.bos_token))

    @property
    def eos_token_bytes(self) -> list[int]:
        """The ``<|eos|>`` block as byte ids, e.g. for ``generate(eos_token_id=[tokenizer.eos_token_bytes])``."""
        return list(self.codec.special_bytes(self.eos_token))

    # -- encoding ---------------------------------------------------------------

    def _row_bytes(self, item: Any, add_special_tokens: bool, max_length: int | None = None) -> bytes:
        if isinstance(item, str) and max_length is not None:
            # Let the codec cut on a character boundary (utf8 characters can
            # straddle blocks), special blocks included in the budget.
            bos = self.bos_token if add_special_tokens and self.add_bos_token else ""
            eos = self.eos_token if add_special_tokens and self.add_eos_token else ""
            if max_length < 4:
                raise ValueError(f"max_length {max_length} is less than one 4-byte block")
            out = self.codec.encode_batch(
                [bos + item + eos], max_length=max_length - max_length % 4, truncation=True, parse_special=True
            )
            return out["input_ids"][0][out["attention_mask"][0] == 1].tobytes()
        if isinstance(item, str):
            data = self.codec.encode(item, parse_special=True)
        elif isinstance(item, (list, tuple)) and all(isinstance(v, (int, np.integer)) for v in item):
            data = b"".join(self._virtual_blocks.get(int(v), None) or bytes([int(v)]) for v in item)
        else:
            raise TypeError(f"expected str or a list of byte ids, got {type(item).__name__}")
        if add_special_tokens and self.add_bos_token:
            data = self.codec.special_bytes(self.bos_token) + data
        if add_special_tokens and self.add_eos_token:
            data = data + self.codec.special_bytes(self.eos_token)
        return data

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
        return_length: bool = False,
        verbose: bool = True,
        **kwargs: Any,
    ) -> BatchEncoding:
        if text_pair is not None:
            raise ValueError("ByGPTTokenizer encodes single texts; join pairs into one text first")
        if is_split_into_words or return_overflowing_tokens or return_token_type_ids:
            raise ValueError("is_split_into_words, overflowing tokens and token type ids are not supported")
        batched = isinstance(text, (list, tuple)) and (not text or not isinstance(text[0], (int, np.integer)))
        truncate = truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE and max_length is not None
        limit = max_length if truncate else None
        rows = [self._row_bytes(t, add_special_tokens, limit) for t in (text if batched else [text])]
        if limit is not None:  # rows given as ids are cut at whole blocks
            rows = [self._truncate(r, limit) for r in rows]
        side = padding_side or self.padding_side
        if padding_strategy == PaddingStrategy.LONGEST or (
            padding_strategy == PaddingStrategy.MAX_LENGTH and max_length is not None
        ):
            width = max((len(r) for r in rows), default=0)
            if padding_strategy == PaddingStrategy.MAX_LENGTH:
                width = max(width, max_length)
            if pad_to_multiple_of:
                width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
            width = -(-width // 4) * 4  # whole blocks
            ids = [self._pad(r, width, side) for r in rows]
            mask = [self._pad(b"\x01" * len(r), width, side, fill=0) for r in rows]
        else:
            ids = [list(r) for r in rows]
            mask = [[1] * len(r) for r in rows]

        data: dict[str, Any] = {"input_ids": ids}
        if return_attention_mask is not False:
            data["attention_mask"] = mask
        if return_special_tokens_mask:
            data["special_tokens_mask"] = [self._special_mask(r) for r in ids]
        if return_length:
            data["length"] = [len(r) for r in ids]
        if not batched:
            data = {k: v[0] for k, v in data.items()}
        return BatchEncoding(data, tensor_type=return_tensors, prepend_batch_axis=not batched)

    @staticmethod
    def _truncate(row: bytes, max_length: int) -> bytes:
        if max_length < 4:
            raise ValueError(f"max_length {max_length} is less than one 4-byte block")
        return row[: max_length - max_length % 4]

    @staticmethod
    def _pad(row: bytes, width: int, side: str, fill: int = 255) -> list[int]:
        pad = [fill] * (width - len(row))
        return pad + list(row) if side == "left" else list(row) + pad

    @staticmethod
    def _special_mask(row: list[int]) -> list[int]:
        mask = [0] * len(row)
        for start in range(0, len(row) - 3, 4):
            if row[start] == 0xFE:
                mask[start : start + 4] = [1, 1, 1, 1]
        return mask

    def build_inputs_with_special_tokens(self, token_ids_0: list[int], token_ids_1: list[int] | None = None):
        if token_ids_1 is not None:
            raise ValueError("ByGPTTokenizer encodes single texts")
        bos = self.bos_token_bytes if self.add_bos_token else []
        eos = self.eos_token_bytes if self.add_eos_token else []
        return bos + list(token_ids_0) + eos

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return 4 * (int(self.add_bos_token) + int(self.add_eos_token))

    # -- decoding ---------------------------------------------------------------

    def _decode(  # type: ignore[override]
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        if isinstance(token_ids, (int, np.integer)):
            token_ids = [token_ids]
        data = bytearray()
        for v in token_ids:
            v = int(v)
            if 0 <= v < 256:
                data.append(v)
            elif v in self._virtual_blocks:
                data += self._virtual_blocks[v]
            else:
                raise ValueError(f"id {v} is neither a byte (0..255) nor a special token id")
        errors = kwargs.get("errors", "replace")
        return self.codec.decode(bytes(data), errors=errors, skip_special_tokens=skip_special_tokens)

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


__all__ = [
    "BYTE_IDS",
    "ByGPTTokenizer",
    "NoSourceCopy",
    "PAD_TOKEN",
    "special_id",
    "staged_directory",
    "virtual_id",
    "virtual_id_block",
]
