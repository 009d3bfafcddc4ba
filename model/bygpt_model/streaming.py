"""Streaming text out of ``generate`` as blocks arrive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class ByteStreamer:
    """A streamer for :func:`bygpt_model.generate.generate`.

    It follows the transformers streamer protocol: ``put`` is called first
    with the prompt ([B, L] ids on the CPU), then with each new block
    ([B, K]), and ``end`` once at the end. Every row has its own incremental
    decoder from the codec, so text comes out exactly as a one-shot decode of
    the same bytes would give it, as soon as it is complete. ``texts[row]``
    accumulates the generated text; ``on_text(text, row)`` is called with
    each new piece.

    The prompt is fed to the decoders too (so the decoder state is right at
    the first generated block) but its text is only reported when
    ``skip_prompt`` is False.
    """

    def __init__(
        self,
        codec: Any = None,
        *,
        skip_prompt: bool = True,
        on_text: Callable[[str, int], None] | None = None,
        errors: str = "replace",
        scheme: str = "jpblock",
    ) -> None:
        if codec is None:
            import bygpt_codec

            codec = bygpt_codec.Codec(scheme=scheme)
        self.codec = codec
        self.skip_prompt = skip_prompt
        self.on_text = on_text
        self.errors = errors
        self.texts: list[str] = []
        self._decoders: list[Any] | None = None
        self._in_prompt = True

    def _emit(self, row: int, text: str, report: bool) -> None:
        if not text or not report:
            return
        self.texts[row] += text
        if self.on_text is not None:
            self.on_text(text, row)

    def put(self, value: torch.Tensor) -> None:
        rows = value.reshape(1, -1) if value.dim() == 1 else value
        if self._decoders is None:
            self._decoders = [self.codec.incremental_decoder(errors=self.errors) for _ in range(rows.shape[0])]
            self.texts = [""] * rows.shape[0]
        report = not (self._in_prompt and self.skip_prompt)
        self._in_prompt = False
        for i, row in enumerate(rows.to(torch.uint8).tolist()):
            self._emit(i, self._decoders[i].decode(bytes(row)), report)

    def end(self) -> None:
        for i, dec in enumerate(self._decoders or []):
            self._emit(i, dec.decode(b"", final=True), True)
