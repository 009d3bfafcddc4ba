"""transformers wrappers around the reference model (``pip install ".[hf]" ./model``).

``ByGPTHFConfig`` and ``ByGPTHFForCausalLM`` are thin ``PreTrainedConfig`` /
``PreTrainedModel`` subclasses that delegate to :mod:`bygpt_model`. A directory
written by ``save_pretrained`` carries ``auto_map`` and two tiny remote-code
files that import this module, so that

    AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True, dtype=torch.bfloat16)

loads it with no network, as the byGPT-JP model card does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from .config import ByGPTConfig
from .generate import generate as bygpt_generate
from .modeling import WEIGHTS_NAME, ByGPTForCausalLM, RMSNorm, RotaryEmbedding

MODEL_TYPE = "bygpt"
CONFIG_CODE_FILE = "configuration_bygpt.py"
MODEL_CODE_FILE = "modeling_bygpt.py"
AUTO_MAP = {
    "AutoConfig": f"{CONFIG_CODE_FILE[:-3]}.ByGPTHFConfig",
    "AutoModelForCausalLM": f"{MODEL_CODE_FILE[:-3]}.ByGPTHFForCausalLM",
}
REMOTE_CODE = {
    CONFIG_CODE_FILE: '"""Loads bygpt_model\'s config class for trust_remote_code."""\n\n'
    "from bygpt_model.hf import ByGPTHFConfig\n\n"
    '__all__ = ["ByGPTHFConfig"]\n',
    MODEL_CODE_FILE: '"""Loads bygpt_model\'s model class for trust_remote_code."""\n\n'
    "from bygpt_model.hf import ByGPTHFConfig, ByGPTHFForCausalLM\n\n"
    '__all__ = ["ByGPTHFConfig", "ByGPTHFForCausalLM"]\n',
}
# The tokenizer gives each named special token a virtual id from 256 up (see
# bygpt_codec.hf); generate turns them back into their 4-byte blocks.
_VIRTUAL_SPECIAL_IDS = {256: 1, 257: 2, 258: 3}
# Fields of ByGPTConfig mirrored on the transformers config.
_FIELDS = [f for f in ByGPTConfig.__dataclass_fields__ if f != "pad_token_id"]


class ByGPTHFConfig(PreTrainedConfig):
    """The :class:`~bygpt_model.ByGPTConfig` fields as a transformers config."""

    model_type = MODEL_TYPE

    def __init__(self, scheme: str = "jpblock", pad_token_id: int = 255, **kwargs: Any) -> None:
        defaults = ByGPTConfig().to_dict()
        for name in _FIELDS:
            setattr(self, name, kwargs.pop(name, defaults[name]))
        self.scheme = scheme
        kwargs.setdefault("auto_map", dict(AUTO_MAP))
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def to_bygpt(self) -> ByGPTConfig:
        return ByGPTConfig(**{name: getattr(self, name) for name in _FIELDS}, pad_token_id=self.pad_token_id)

    @classmethod
    def from_bygpt(cls, config: ByGPTConfig, **kwargs: Any) -> ByGPTHFConfig:
        return cls(**config.to_dict(), **kwargs)


def _stop_sequences(eos_token_id: Any) -> Any:
    """Maps the tokenizer's virtual special-token ids (256 ``<|bos|>``, 257
    ``<|eos|>``, 258 ``<|mask|>``) to their blocks; byte sequences pass through."""

    def block(v: int) -> list[int]:
        return [0xFE, 0, 0, _VIRTUAL_SPECIAL_IDS[v]]

    if isinstance(eos_token_id, torch.Tensor):
        eos_token_id = eos_token_id.tolist()
    if isinstance(eos_token_id, int) and eos_token_id in _VIRTUAL_SPECIAL_IDS:
        return [block(eos_token_id)]
    if isinstance(eos_token_id, (list, tuple)):
        if all(isinstance(v, int) for v in eos_token_id) and any(v in _VIRTUAL_SPECIAL_IDS for v in eos_token_id):
            # A flat list mixing virtual ids is a set of alternatives, as in transformers.
            return [block(v) if v in _VIRTUAL_SPECIAL_IDS else [v] for v in eos_token_id]
        return [block(v) if isinstance(v, int) and v in _VIRTUAL_SPECIAL_IDS else v for v in eos_token_id]
    return eos_token_id


class ByGPTHFForCausalLM(PreTrainedModel):
    """transformers face of :class:`~bygpt_model.ByGPTForCausalLM`.

    ``forward`` returns a ``CausalLMOutput`` whose logits are [B, N, 4, 256]
    (4 byte heads per block) and, with ``labels`` (byte ids, usually the
    inputs), the mean cross-entropy over the heads. ``generate`` is the
    reference model's loop and takes the card's keyword arguments.
    """

    config_class = ByGPTHFConfig
    base_model_prefix = "bygpt"
    main_input_name = "input_ids"
    _no_split_modules = ["DecoderLayer"]

    def __init__(self, config: ByGPTHFConfig) -> None:
        super().__init__(config)
        self.bygpt = ByGPTForCausalLM(config.to_bygpt())
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: torch.nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            module.weight.normal_(0.0, std)
        elif isinstance(module, RMSNorm):
            module.weight.fill_(1.0)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> CausalLMOutput:
        logits = self.bygpt(input_ids, attention_mask)
        loss = None
        if labels is not None:
            if labels.shape != input_ids.shape:
                raise ValueError("labels must be the byte ids of the inputs (same shape as input_ids)")
            loss = self.bygpt.loss(labels, attention_mask)
        return CausalLMOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(  # type: ignore[override]
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        eos_token_id: Any = None,
        pad_token_id: int | None = None,
        max_new_tokens: int = 160,
        do_sample: bool = False,
        **kwargs: Any,
    ) -> torch.Tensor:
        """The card's call works as written:
        ``generate(input_ids=..., attention_mask=..., eos_token_id=[tokenizer.encode("\\n",
        add_special_tokens=False)], pad_token_id=tokenizer.pad_token_id, max_new_tokens=160,
        do_sample=False)``. Other keywords: see :func:`bygpt_model.generate.generate`."""
        supported = {"temperature", "top_k", "top_p", "use_cache", "generator", "streamer", "use_cuda_graph"}
        supported |= {"compile", "sync_every"}
        unknown = sorted(set(kwargs) - supported)
        if unknown:
            raise ValueError(f"generate() does not support {', '.join(unknown)}; supported: {sorted(supported)}")
        return bygpt_generate(
            self.bygpt,
            input_ids,
            attention_mask=attention_mask,
            eos_token_id=_stop_sequences(eos_token_id),
            pad_token_id=self.config.pad_token_id if pad_token_id is None else pad_token_id,
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            **kwargs,
        )

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        """Saves as transformers does (``config.json`` with ``auto_map``,
        ``model.safetensors``) plus the remote-code files that import this module."""
        super().save_pretrained(save_directory, *args, **kwargs)
        for name, code in REMOTE_CODE.items():
            (Path(save_directory) / name).write_text(code, encoding="utf-8")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *args: Any, **kwargs: Any) -> ByGPTHFForCausalLM:
        """As transformers' ``from_pretrained``; a local directory whose weight
        file is missing or unreadable fails with an error naming the file."""
        path = Path(str(pretrained_model_name_or_path))
        if path.is_dir():
            _check_weights(path)
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        # transformers builds the model on the meta device and loads only what
        # the file holds; the rotary tables are derived, not saved, so they
        # must be computed again (else they are uninitialised memory).
        cfg = model.bygpt.config
        rotary = RotaryEmbedding(cfg.head_dim, cfg.max_position_embeddings, cfg.rope_theta)
        model.bygpt.model.rotary = rotary.to(model.bygpt.device)
        return model


def _check_weights(directory: Path) -> None:
    weights = directory / WEIGHTS_NAME
    index = directory / f"{WEIGHTS_NAME}.index.json"
    files = [weights]
    if not weights.exists() and index.exists():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        files = [directory / s for s in shards]
    for f in files:
        if not f.exists():
            raise OSError(f"missing weight file {f}")
        try:
            from safetensors import safe_open

            with safe_open(str(f), framework="pt") as handle:
                for key in handle.keys():
                    handle.get_slice(key)  # reads each tensor's header entry
        except Exception as exc:
            raise OSError(f"corrupt weight file {f}: {exc}") from exc
        # A truncated file can keep a valid header: check the data is all there.
        with open(f, "rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(header_len))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        size, needed = os.path.getsize(f), 8 + header_len + end
        if size < needed:
            raise OSError(f"corrupt weight file {f}: truncated ({size} bytes, needs {needed})")


__all__ = ["ByGPTHFConfig", "ByGPTHFForCausalLM"]
