"""Type stubs for the Rust extension (bygpt_codec._native)."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

SCHEMES: list[str]
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

class _Codec:
    def __new__(
        cls, scheme: str = "jpblock", special_tokens: Mapping[str, int] | Sequence[str] | None = None
    ) -> _Codec: ...
    @property
    def scheme(self) -> str: ...
    def _special_tokens(self) -> list[tuple[str, int]]: ...
    def special_bytes(self, name: str) -> bytes: ...
    def encode(self, text: str, *, parse_special: bool = False, add_special_tokens: bool = False) -> bytes: ...
    def decode(self, data: Any, *, errors: str = "strict", skip_special_tokens: bool = False) -> str: ...
    def _encode_batch(
        self,
        texts: list[str],
        *,
        left: bool,
        max_length: int | None,
        truncation: bool,
        pad_to_max_length: bool,
        parse_special: bool,
        add_special_tokens: bool,
        int64: bool = False,
    ) -> tuple[bytearray, bytearray, int, int]: ...
    def _decode_rows(self, rows: list[bytes], *, errors: str, skip_special_tokens: bool) -> list[str]: ...
    def _decode_matrix(self, matrix: Any, width: int, *, errors: str, skip_special_tokens: bool) -> list[str]: ...
    def incremental_decoder(
        self, *, errors: str = "strict", skip_special_tokens: bool = False
    ) -> IncrementalDecoder: ...
    def _byte_automaton(self) -> tuple[bytes, int, list[bool], bytes]: ...
    def _stats(self, text: str) -> tuple[int, int, int, int]: ...

class IncrementalDecoder:
    def decode(self, chunk: Any, final: bool = False) -> str: ...
    def reset(self) -> None: ...
    @property
    def position(self) -> int: ...

def _jp_table() -> list[int]: ...

# Streaming work for the command line (src/stream.rs). Each runs with the GIL
# released and takes it back between 8 MB chunks to call ``progress(bytes_read)``
# and to check for Ctrl-C. Bad input raises ValueError (message names
# ``in_name``); I/O failures raise OSError naming ``in_name`` or ``out_name``.
def _encode_fd(
    scheme_name: str,
    in_fd: int,
    out_fd: int,
    *,
    errors: str,
    add_special_tokens: bool,
    in_name: str,
    out_name: str,
    progress: Callable[[int], object] | None = None,
) -> tuple[int, int]: ...
def _decode_fd(
    scheme_name: str,
    in_fd: int,
    out_fd: int,
    *,
    errors: str,
    skip_special_tokens: bool,
    in_name: str,
    out_name: str,
    progress: Callable[[int], object] | None = None,
) -> tuple[int, int]: ...
def _stats_fd(
    in_fd: int, *, errors: str, in_name: str, progress: Callable[[int], object] | None = None
) -> tuple[list[tuple[str, int, int, int, int]], int]: ...
def _pack_jsonl(
    scheme_name: str, block: bytes, *, field: str, skip_invalid: bool
) -> tuple[bytes, bytes, int, list[tuple[int, int, str]]]: ...
