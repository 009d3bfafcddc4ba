"""Type stubs for the Rust extension (bygpt_codec._native)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

Errors = Literal["strict", "replace"]
Side = Literal["right", "left"]
Scheme = Literal["jpblock", "utf8", "jpblock2"]

SCHEMES: list[Scheme]
SCHEME_IDS: list[tuple[str, int]]
BLOCK: int
FILLER: int
SPECIAL_LEAD: int
BOS: str
EOS: str
MASK: str
BOS_ID: int
EOS_ID: int
MASK_ID: int
FIRST_USER_SPECIAL_ID: int
MAX_SPECIAL_ID: int

# The padded buffers of a batch: (ids, mask, special mask or None, rows, width).
_Batch = tuple[bytearray, bytearray, bytearray | None, int, int]
# (bytes to keep or None, side)
_Truncation = tuple[int | None, Side]
# (parse_special, bos, eos, truncation)
_Encoding = tuple[bool, bool, bool, _Truncation]
# (width or None, multiple_of, max_length, padding_side, int64, special_mask)
_Layout = tuple[int | None, int | None, int | None, Side, bool, bool]

class _Codec:
    def __new__(
        cls, scheme: str = "jpblock", special_tokens: Mapping[str, int] | Sequence[str] | None = None
    ) -> _Codec: ...
    @property
    def scheme(self) -> Scheme: ...
    def _special_tokens(self) -> list[tuple[str, int]]: ...
    def special_bytes(self, name: str) -> bytes: ...
    def encode(
        self,
        text: str,
        *,
        parse_special: bool = False,
        add_special_tokens: bool = False,
        add_bos: bool | None = None,
        add_eos: bool | None = None,
    ) -> bytes:
        """Encodes ``text``; the result's length is a multiple of 4.

        Special-token names in the text stay plain text unless
        ``parse_special``. ``add_special_tokens`` wraps the text in
        ``<|bos|>`` ... ``<|eos|>`` blocks; ``add_bos``/``add_eos`` choose
        each one on its own (they default to ``add_special_tokens``).
        """
    def decode(self, data: Any, *, errors: Errors = "strict", skip_special_tokens: bool = False) -> str: ...
    def _encode_rows(self, texts: list[str], encoding: _Encoding) -> list[bytes]: ...
    def _encode_batch(self, texts: list[str], encoding: _Encoding, layout: _Layout) -> _Batch: ...
    def _pad_rows(self, rows: list[bytes], truncation: _Truncation, layout: _Layout) -> _Batch: ...
    def _special_tokens_mask(self, row: bytes) -> bytes: ...
    def _decode_rows(self, rows: list[bytes], *, errors: Errors, skip_special_tokens: bool) -> list[str]: ...
    def _decode_matrix(self, matrix: Any, width: int, *, errors: Errors, skip_special_tokens: bool) -> list[str]: ...
    def incremental_decoder(
        self, *, errors: Errors = "strict", skip_special_tokens: bool = False
    ) -> IncrementalDecoder: ...
    def _byte_automaton(self) -> tuple[bytes, int, list[bool], bytes]: ...
    def _stats(self, text: str) -> tuple[int, int, int, int]: ...

class IncrementalDecoder:
    """Decodes one stream chunk by chunk. Not for sharing between threads: a
    call while another thread's call on the same decoder is running raises
    RuntimeError (use one decoder per stream and thread)."""

    def decode(self, chunk: Any, final: bool = False) -> str: ...
    def reset(self) -> None: ...
    @property
    def position(self) -> int: ...
    @property
    def pending(self) -> list[int]: ...
    @property
    def scheme(self) -> Scheme: ...
    @property
    def errors(self) -> Errors: ...
    @property
    def skip_special_tokens(self) -> bool: ...

def _code_tables(scheme: str) -> tuple[list[int], list[int]]: ...

# Streaming work for the command line (src/stream.rs). Each runs with the GIL
# released and takes it back between 8 MB chunks to call ``progress(bytes_read)``
# and to check for Ctrl-C. Bad input raises ValueError (message names
# ``in_name``); I/O failures raise OSError naming ``in_name`` or ``out_name``.
def _transcode_fd(
    direction: Literal["encode", "decode"],
    scheme_name: str,
    in_fd: int,
    out_fd: int,
    *,
    errors: Literal["strict", "replace", "surrogateescape"],
    special_tokens: bool,
    in_name: str,
    out_name: str,
    progress: Callable[[int], object] | None = None,
) -> tuple[int, int]: ...
def _stats_fd(
    in_fd: int,
    *,
    errors: Literal["strict", "surrogateescape"],
    in_name: str,
    progress: Callable[[int], object] | None = None,
) -> tuple[list[tuple[str, int, int, int, int]], int]: ...
def _pack_jsonl(
    scheme_name: str, block: bytes, *, field: str, skip_invalid: bool
) -> tuple[bytes, bytes, int, list[tuple[int, int, str]]]: ...
