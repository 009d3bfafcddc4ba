"""Write a small random-weight model and its tokenizer, loadable with
``AutoModelForCausalLM`` / ``AutoTokenizer`` and ``trust_remote_code=True``.

    python -m bygpt_model.make_tiny DIR [--scheme jpblock] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys

import torch

from bygpt_codec import SCHEMES
from bygpt_codec.hf import ByGPTTokenizer

from .config import ByGPTConfig
from .hf import ByGPTHFConfig, ByGPTHFForCausalLM


def make_tiny(directory: str, scheme: str = "jpblock", seed: int = 0) -> None:
    """The tokenizer's ``model_max_length`` is the model's context in bytes,
    so ``truncation=True`` cuts inputs to what the model can read."""
    torch.manual_seed(seed)
    config = ByGPTHFConfig.from_bygpt(ByGPTConfig.preset("tiny"), scheme=scheme)
    ByGPTHFForCausalLM(config).save_pretrained(directory)
    ByGPTTokenizer(scheme=scheme, model_max_length=config.to_bygpt().max_length_bytes).save_pretrained(directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory")
    parser.add_argument("--scheme", default="jpblock", choices=list(SCHEMES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    make_tiny(args.directory, args.scheme, args.seed)
    print(f"wrote a tiny random-weight byGPT model and tokenizer to {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
