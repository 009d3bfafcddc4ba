"""transformers wrappers around the reference model (``pip install ".[hf]" ./model``).

``ByGPTHFConfig`` and ``ByGPTHFForCausalLM`` are thin ``PreTrainedConfig`` /
``PreTrainedModel`` subclasses that delegate to :mod:`bygpt_model`. A directory
written by ``save_pretrained`` carries ``auto_map`` and two tiny remote-code
files that import this module, so that

    AutoModelForCausalLM.from_pretrained(DIR, trust_remote_code=True, dtype=torch.bfloat16)

loads it with no network, as the byGPT-JP model card does. The model is a
``GenerationMixin``, so transformers' ``pipeline("text-generation")`` and
streamers work with it; ``generate`` itself is the reference model's loop.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from bygpt_codec._extras import requires
from bygpt_codec.constants import PAD_ID

with requires("bygpt_model.hf", "hf"):  # a missing transformers names the extra to install
    from transformers import GenerationConfig, GenerationMixin, PreTrainedConfig, PreTrainedModel
    from transformers.modeling_outputs import CausalLMOutput

from bygpt_codec.hf import BYTE_IDS, NoSourceCopy, staged_directory, virtual_id_block

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
# Fields of ByGPTConfig mirrored on the transformers config.
_FIELDS = [f for f in ByGPTConfig.__dataclass_fields__ if f != "pad_token_id"]
_SHARD = re.compile(re.escape(WEIGHTS_NAME[: -len(".safetensors")]) + r"-\d{5}-of-\d{5}\.safetensors")

# generate(): GenerationConfig fields the reference loop implements, and those
# that are only bookkeeping here; any other field set to a value is refused.
_GENERATION_FIELDS = {"max_new_tokens", "do_sample", "temperature", "top_k", "top_p", "use_cache", "pad_token_id"}
_HANDLED_FIELDS = {
    "num_return_sequences",
    "max_length",
    "bos_token_id",
    "decoder_start_token_id",
    "transformers_version",
}
_NEUTRAL = {"num_beams": 1, "return_dict_in_generate": False}
_NEUTRAL.update(dict.fromkeys(["output_scores", "output_logits", "output_attentions", "output_hidden_states"], False))


class ByGPTHFConfig(NoSourceCopy, PreTrainedConfig):
    """The :class:`~bygpt_model.ByGPTConfig` fields as a transformers config."""

    model_type = MODEL_TYPE

    def __init__(self, pad_token_id: int = PAD_ID, **kwargs: Any) -> None:
        defaults = ByGPTConfig().to_dict()
        for name in _FIELDS:
            setattr(self, name, kwargs.pop(name, defaults[name]))
        if "scheme" not in _FIELDS:  # the byte scheme the tokenizer uses
            self.scheme = kwargs.pop("scheme", "jpblock")
        kwargs.setdefault("auto_map", dict(AUTO_MAP))
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    def to_bygpt(self) -> ByGPTConfig:
        return ByGPTConfig(**{name: getattr(self, name) for name in _FIELDS}, pad_token_id=self.pad_token_id)

    @classmethod
    def from_bygpt(cls, config: ByGPTConfig, **kwargs: Any) -> ByGPTHFConfig:
        return cls(**{**config.to_dict(), **kwargs})


def _stop_sequences(eos_token_id: Any) -> Any:
    """Maps the tokenizer's virtual special-token ids (past the byte ids, see
    :mod:`bygpt_codec.hf`) to their blocks; byte sequences pass through."""

    def is_virtual(v: Any) -> bool:
        return isinstance(v, int) and v >= BYTE_IDS

    if isinstance(eos_token_id, torch.Tensor):
        eos_token_id = eos_token_id.tolist()
    if is_virtual(eos_token_id):
        return [list(virtual_id_block(eos_token_id))]
    if isinstance(eos_token_id, (list, tuple)):
        if all(isinstance(v, int) for v in eos_token_id) and any(is_virtual(v) for v in eos_token_id):
            # A flat list mixing virtual ids is a set of alternatives, as in transformers.
            return [list(virtual_id_block(v)) if is_virtual(v) else [v] for v in eos_token_id]
        return [list(virtual_id_block(v)) if is_virtual(v) else v for v in eos_token_id]
    return eos_token_id


class ByGPTHFForCausalLM(NoSourceCopy, PreTrainedModel, GenerationMixin):
    """transformers face of :class:`~bygpt_model.ByGPTForCausalLM`.

    ``forward`` returns a ``CausalLMOutput`` whose logits are [B, N, 4, 256]
    (4 byte heads per block) and, with ``labels`` (byte ids, usually the
    inputs, -100 for bytes that are not targets), the mean cross-entropy over
    the heads. ``generate`` is the reference model's loop and takes the card's
    keyword arguments, a ``GenerationConfig`` and transformers streamers.
    """

    config_class = ByGPTHFConfig
    base_model_prefix = "bygpt"
    main_input_name = "input_ids"
    _no_split_modules = ["DecoderLayer"]
    # The loss is a mean over the batch's targets: Trainer must not pass
    # num_items_in_batch expecting a sum.
    accepts_loss_kwargs = False

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
        if labels is None:
            return CausalLMOutput(loss=None, logits=self.bygpt(input_ids, attention_mask))
        if labels.shape != input_ids.shape:
            raise ValueError("labels must be byte ids aligned with input_ids (same shape), -100 where ignored")
        # One pass of the decoder: the loss is computed from these logits.
        logits, loss = self.bygpt.logits_and_loss(input_ids, attention_mask, labels=labels)
        return CausalLMOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(  # type: ignore[override]
        self,
        input_ids: Any = None,
        attention_mask: Any = None,
        generation_config: GenerationConfig | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """The card's call works as written:
        ``generate(input_ids=..., attention_mask=..., eos_token_id=[tokenizer.encode("\\n",
        add_special_tokens=False)], pad_token_id=tokenizer.pad_token_id, max_new_tokens=160,
        do_sample=False)``. So do transformers' ways of passing settings: a
        ``generation_config`` and its fields as keywords (as ``pipeline`` does),
        and ``streamer`` (``TextStreamer``, ``TextIteratorStreamer``). Settings
        the reference loop does not implement (beams, penalties, ...) raise
        ValueError. Other keywords: see :func:`bygpt_model.generate.generate`.
        ``max_new_tokens`` counts bytes (default 160)."""
        config = copy.deepcopy(generation_config or self.generation_config)
        eos_token_id = kwargs.pop("eos_token_id", config.eos_token_id)
        loop_args = set(inspect.signature(bygpt_generate).parameters) - {"model", "input_ids", "attention_mask"}
        loop_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in loop_args and not hasattr(config, k)}
        unknown = sorted(k for k in kwargs if not hasattr(config, k))
        if unknown:
            raise ValueError(f"generate() does not support {', '.join(unknown)}")
        config.update(**kwargs)
        settings = {k: v for k, v in config.to_diff_dict().items() if v is not None and not k.startswith("_")}
        handled = _GENERATION_FIELDS | _HANDLED_FIELDS
        refused = sorted(k for k, v in settings.items() if k not in handled and _NEUTRAL.get(k, object()) != v)
        if refused:
            raise ValueError(f"generate() does not support {', '.join(refused)} (the reference loop)")
        if input_ids is not None and (n := settings.get("num_return_sequences", 1)) > 1:
            input_ids = torch.as_tensor(input_ids).repeat_interleave(n, dim=0)
            if attention_mask is not None:
                attention_mask = torch.as_tensor(attention_mask).repeat_interleave(n, dim=0)
        max_new = settings.get("max_new_tokens")
        if max_new is None and settings.get("max_length") is not None and input_ids is not None:
            max_new = max(0, settings["max_length"] - torch.as_tensor(input_ids).shape[-1])
        loop_kwargs.update({k: settings[k] for k in _GENERATION_FIELDS - {"max_new_tokens"} if k in settings})
        loop_kwargs.setdefault("pad_token_id", self.config.pad_token_id)
        return bygpt_generate(
            self.bygpt,
            input_ids,
            attention_mask=attention_mask,
            eos_token_id=_stop_sequences(eos_token_id),
            max_new_tokens=160 if max_new is None else max_new,
            **loop_kwargs,
        )

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        """Saves as transformers does (``config.json`` with ``auto_map``,
        ``model.safetensors``) plus the remote-code files that import this
        module, never a copy of this package. The files go to a staging
        directory first: a failed save leaves ``save_directory`` as it was."""
        if kwargs.get("push_to_hub"):
            kwargs.setdefault("repo_id", Path(save_directory).name)
        with staged_directory(save_directory) as stage:
            super().save_pretrained(stage, *args, **kwargs)
            for name, code in REMOTE_CODE.items():
                (stage / name).write_text(code, encoding="utf-8")
            written = {p.name for p in stage.iterdir()}
        # As transformers does in place: weight files of an earlier save that
        # this one did not write (other shards, an index) go.
        stale = [p for p in Path(save_directory).iterdir() if _SHARD.fullmatch(p.name) and p.name not in written]
        index = Path(save_directory) / f"{WEIGHTS_NAME}.index.json"
        if WEIGHTS_NAME in written and index.name not in written:
            stale.append(index)
        for path in stale:
            path.unlink(missing_ok=True)

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
