"""A data collator for causal byte LMs (``Trainer``, ``DataLoader``).

    from bygpt_codec.collator import DataCollatorForByteLM
    trainer = Trainer(model, args, train_dataset=ds, data_collator=DataCollatorForByteLM(tokenizer))

Importing this module imports neither torch nor transformers; the collator
pads through the tokenizer it is given (``ByGPTTokenizer.pad``, which pads with
the codec) and returns torch tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

IGNORE_INDEX = -100  # transformers' "not a target" label


class DataCollatorForByteLM:
    """Pads examples into a batch and sets ``labels`` for causal LM training.

    Examples are mappings with ``input_ids`` (byte ids, e.g. from
    ``tokenizer(text)``), optionally ``attention_mask`` and ``labels`` (byte
    ids, -100 where a byte is not a target: a prompt, say). Rows are padded in
    whole blocks of filler; ``labels`` default to the ``input_ids``, and are
    -100 over the padding only, found by ``attention_mask``. Filler inside a
    row (bytes completing a block) stays a target: a model must learn to emit
    it. ``transformers.DataCollatorForLanguageModeling(mlm=False)`` instead
    ignores every byte equal to ``pad_token_id``, that filler included.
    """

    def __init__(self, tokenizer: Any, pad_to_multiple_of: int | None = None, padding_side: str | None = None):
        self.tokenizer = tokenizer
        self.pad_to_multiple_of = pad_to_multiple_of
        self.padding_side = padding_side

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        batch = self.tokenizer.pad(
            [dict(e) for e in examples],
            padding="longest",
            pad_to_multiple_of=self.pad_to_multiple_of,
            padding_side=self.padding_side,
            return_tensors="pt",
        )
        if "labels" not in batch:
            batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
        return dict(batch)


__all__ = ["DataCollatorForByteLM", "IGNORE_INDEX"]
