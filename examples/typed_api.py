"""The public API as a type checker sees it: CI runs ``mypy --strict`` on this
file, and runs it (``python examples/typed_api.py``).

The annotations pin what the stubs promise (``errors``, ``padding_side`` and
the scheme are literal types, not ``str``). ``rejected()`` is never called:
each line in it must be refused by the type checker, and ``--strict`` (which
reports an unused ``# type: ignore``) fails if a stub ever accepts it.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

import bygpt_codec
from bygpt_codec import Codec, DecodeError, IncrementalDecoder

Scheme = Literal["jpblock", "utf8", "jpblock2"]


def main() -> None:
    codec = Codec(scheme="jpblock")
    scheme: Scheme = codec.scheme
    schemes: tuple[Scheme, ...] = bygpt_codec.SCHEMES

    data: bytes = codec.encode("吾輩は猫である。", add_special_tokens=True)
    text: str = codec.decode(data, errors="strict", skip_special_tokens=True)
    batch: dict[str, Any] = codec.encode_batch(["短い文", "もう少し長い文です。"], padding_side="left")
    ids: np.ndarray = batch["input_ids"]
    texts: list[str] = codec.decode_batch(ids, errors="replace")

    decoder: IncrementalDecoder = codec.incremental_decoder(errors="replace", skip_special_tokens=True)
    streamed = "".join(decoder.decode(data[i : i + 3]) for i in range(0, len(data), 3))
    streamed += decoder.decode(b"", final=True)
    mode: Literal["strict", "replace"] = decoder.errors

    try:
        codec.decode(b"\xfd\x11\x00\x00")
    except DecodeError as e:
        position: int = e.position

    print(scheme, len(schemes), text == streamed, texts, mode, position)


def rejected(codec: Codec, data: bytes) -> None:
    codec.decode(data, errors="ignore")  # type: ignore[arg-type]
    codec.decode_batch([data], errors="surrogateescape")  # type: ignore[arg-type]
    codec.incremental_decoder(errors="backslashreplace")  # type: ignore[arg-type]
    codec.encode_batch(["a"], padding_side="center")  # type: ignore[arg-type]
    codec.encode_batch(["a"], return_tensors="tf")  # type: ignore[arg-type]
    wrong: Literal["utf8"] = codec.scheme  # type: ignore[assignment]
    print(wrong)


if __name__ == "__main__":
    main()
