"""Exceptions raised by the codec."""

from __future__ import annotations


class DecodeError(ValueError):
    """Malformed input in strict decoding.

    ``position`` is the byte offset of the bad unit in the input (in the whole
    stream, for the incremental decoder); ``row`` is the row index in batch
    decoding and ``None`` otherwise.
    """

    def __init__(self, message: str, position: int, row: int | None = None) -> None:
        super().__init__(message)
        self.position = position
        self.row = row

    def __reduce__(self):  # keep position and row across pickling (multiprocessing)
        return (type(self), (str(self), self.position, self.row))
