"""A thin PyTorch reference model for byte-level LMs that predict 4 bytes per
step (byGPT), and a fast batched generate loop.

    from bygpt_model import ByGPTConfig, ByGPTForCausalLM
    model = ByGPTForCausalLM(ByGPTConfig.preset("tiny"))
    logits = model(input_ids)            # [B, N, 4, 256]
    out = model.generate(input_ids, max_new_tokens=160)   # valid text; stops at <|eos|>

Training: ``python -m bygpt_model.train --data PREFIX --out DIR`` (see
:mod:`bygpt_model.train`).

Requires torch (and safetensors for saving); ``bygpt_codec`` itself stays
free of torch.
"""

from .config import ByGPTConfig
from .generate import generate, select_next_block
from .modeling import (
    IGNORE_INDEX,
    ByGPTForCausalLM,
    ByGPTModel,
    causal_lm_loss,
    count_parameters,
    expected_parameters,
)
from .stopping import normalize_stop_sequences
from .streaming import ByteStreamer

__all__ = [
    "IGNORE_INDEX",
    "ByGPTConfig",
    "ByGPTForCausalLM",
    "ByGPTModel",
    "ByteStreamer",
    "causal_lm_loss",
    "count_parameters",
    "expected_parameters",
    "generate",
    "normalize_stop_sequences",
    "select_next_block",
]
