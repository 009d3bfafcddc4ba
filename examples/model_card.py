# The usage script of the byGPT-JP multi-LM-head model card, with two changes:
#   1. the default model path is a directory made by `python -m bygpt_model.make_tiny bygpt-tiny`
#      (a small random-weight model, so the output is gibberish: this checks the plumbing);
#   2. the device is CUDA when available, else the CPU.
# Everything else, the command line included, is as the card has it.
import argparse

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


SAMPLE_INPUT_TEXTS = [
    "日本三景一覧:\n1. 広島県, 宮島\n2. 京都府, 天橋立\n3. 宮城県, ",
    "原文: I like to play soccer. 訳文: 私はサッカーをするのが好きです。\n原文: She enjoys reading books. 訳文: 彼女は本を読むのが好きです。\n原文: They went to the park. 訳文:",
]

def main(args):
    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    tokenizer = AutoTokenizer.from_pretrained(
        args.model_name_or_path,
        trust_remote_code=True,
    )
    model = AutoModelForCausalLM.from_pretrained(
        args.model_name_or_path,
        dtype=torch.bfloat16,
        trust_remote_code=True,
    )
    model.to(device)
    model.eval()

    input_texts = [f"{tokenizer.bos_token}{text}" for text in SAMPLE_INPUT_TEXTS]
    batch = tokenizer(
        input_texts, return_tensors="pt", padding="longest", add_special_tokens=False
    )
    batch = batch.to(device)
    decoded_ids = model.generate(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        eos_token_id=[tokenizer.encode("\n", add_special_tokens=False)],
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=args.max_new_tokens,
        do_sample=False,
    )

    decoded_texts = tokenizer.batch_decode(decoded_ids, skip_special_tokens=False)
    for text in decoded_texts:
        print("===")
        print(f"Decoded: {text}")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(allow_abbrev=False)
    parser.add_argument("--model_name_or_path", "-m", type=str, default="bygpt-tiny")
    parser.add_argument("--max_new_tokens", "-n", type=int, default=160)
    parser.add_argument("--seed", "-s", type=int, default=42)
    args = parser.parse_args()
    main(args)
