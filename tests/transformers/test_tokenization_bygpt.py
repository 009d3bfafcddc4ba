"""transformers' own tokenizer test suite, run on ``ByGPTTokenizer``.

``TokenizerTesterMixin`` is vendored unchanged from transformers' source
distribution (see README.md), and adapted here the way transformers' ByT5
module adapts it: a class per scheme, a local pretrained directory (loaded
with ``AutoTokenizer`` and ``trust_remote_code=True``), ``get_clean_sequence``
for a byte vocabulary, and integration data. Every other override names one
of the deliberate differences listed in docs/transformers.md; where the
mixin's test stops at a deliberate refusal (a text pair, pre-tokenized words,
overflowing tokens), it is run as it is and must get that far and no further.
"""

from __future__ import annotations

import math
import re
import unittest

import pytest

pytest.importorskip("transformers")

from bygpt_codec.hf import PAD_TOKEN, ByGPTTokenizer  # noqa: E402

from ..reference_codec import encode as reference_encode  # noqa: E402
from .harness import LocalSource  # noqa: E402
from .test_tokenization_common import TokenizerTesterMixin  # noqa: E402

BLOCKS = "deliberate difference: padding and truncation work in whole 4-byte blocks"
PAD = "deliberate difference: the pad token is the filler byte 0xFF and cannot be changed"
PAIRS = "deliberate difference: no text pairs"
WORDS = "deliberate difference: no pre-tokenized words (is_split_into_words)"
OVERFLOW = "deliberate difference: no overflowing tokens (return_overflowing_tokens, stride)"


class ByGPTTokenizationTest(LocalSource, TokenizerTesterMixin, unittest.TestCase):
    tokenizer_class = ByGPTTokenizer
    from_pretrained_kwargs = {"trust_remote_code": True}
    # There is no tokenizer.json to rebuild the tokenizer from: the vocabulary is the codec.
    test_tokenizer_from_extractor = False
    scheme = "jpblock"

    @classmethod
    def save_source(cls, directory: str) -> None:
        ByGPTTokenizer(scheme=cls.scheme).save_pretrained(directory)

    @classmethod
    def setUpClass(cls) -> None:
        # Expected encoding of the mixin's integration text, from the
        # independent Python encoder of docs/spec.md.
        data = reference_encode(cls.integration_test_input_string, cls.scheme)
        cls.integration_expected_token_ids = list(data)
        cls.integration_expected_tokens = [f"<0x{b:02X}>" for b in data]
        cls.integration_expected_decoded_text = cls.integration_test_input_string
        super().setUpClass()

    def get_clean_sequence(self, tokenizer, with_prefix_space=False, max_length=20, min_length=5):
        # The mixin looks for ids that encode alone to themselves; no byte does
        # (a lone byte is completed to a block with filler), so take the ids
        # that decode to ASCII letters, as ByT5's module does.
        letters = bytes(i for i in range(256) if re.fullmatch(r"[a-zA-Z]", tokenizer.decode([i])))
        word = letters[: max(min_length, min(max_length, len(letters)))].decode()
        text = (" " if with_prefix_space else "") + word[: len(word) // 2] + " " + word[len(word) // 2 :]
        return text, tokenizer.encode(text, add_special_tokens=False)

    def test_conversion_reversible(self):  # the mixin marks it slow; with 259 ids it is not
        test = TokenizerTesterMixin.test_conversion_reversible
        getattr(test, "__wrapped__", test)(self)

    # -- whole 4-byte blocks ------------------------------------------------------

    def test_encode_basic_padding(self):  # BLOCKS: 10 more ids pad by 12 (3 blocks)
        tokenizer = self.get_tokenizer()
        ids = tokenizer.encode("Sequence")
        pad = [tokenizer.pad_token_id] * 12
        for side, expected in (("right", ids + pad), ("left", pad + ids)):
            tokenizer.padding_side = side
            for extra in (10, 12):
                self.assertEqual(
                    tokenizer.encode("Sequence", max_length=len(ids) + extra, padding="max_length"), expected
                )

    def _check_encode_plus_with_padding(self, padding_side_as_call_kwarg: bool) -> None:  # BLOCKS
        tokenizer = self.get_tokenizer()
        plain = tokenizer("Sequence", return_special_tokens_mask=True)
        for padding in (True, False):  # a single text is not padded
            self.assertEqual(tokenizer("Sequence", padding=padding, return_special_tokens_mask=True), plain)
        for side in ("right", "left"):
            kwargs = {"padding_side": side} if padding_side_as_call_kwarg else {}
            other = {"left": "right", "right": "left"}[side]
            tokenizer.padding_side = other if padding_side_as_call_kwarg else side  # the call's side wins
            length = len(plain["input_ids"]) + 10  # rounds up to 12 more
            out = tokenizer(
                "Sequence", max_length=length, padding="max_length", return_special_tokens_mask=True, **kwargs
            )
            for key, fill in (("input_ids", tokenizer.pad_token_id), ("special_tokens_mask", 1), ("attention_mask", 0)):
                pad = [fill] * 12
                self.assertEqual(out[key], plain[key] + pad if side == "right" else pad + plain[key], key)

    def test_encode_plus_with_padding_0(self):
        self._check_encode_plus_with_padding(True)

    def test_encode_plus_with_padding_1(self):
        self._check_encode_plus_with_padding(False)

    def test_right_and_left_truncation(self):  # BLOCKS: max_length rounds down to whole blocks
        tokenizer = self.get_tokenizer()
        text = "This is a test sequence"
        ids = tokenizer.encode(text, add_special_tokens=False)
        for side, kept in (("right", ids[:-4]), ("left", ids[4:])):
            tokenizer.truncation_side = side
            for max_length in (len(ids) - 4, len(ids) - 3):
                cut = tokenizer.encode(text, max_length=max_length, truncation=True, add_special_tokens=False)
                self.assertEqual(cut, kept, (side, max_length))
            for truncation in (True, "longest_first", False, None):  # no max_length: nothing to cut
                self.assertEqual(tokenizer.encode(text, truncation=truncation, add_special_tokens=False), ids)

    def test_padding_to_multiple_of(self):  # BLOCKS: a multiple of both pad_to_multiple_of and 4
        tokenizer = self.get_tokenizer()
        for text in ("", "This is a sample input", "This"):
            for multiple in (8, 6):
                for value in tokenizer(text, padding=True, pad_to_multiple_of=multiple).values():
                    self.assertEqual(len(value) % math.lcm(multiple, 4), 0)
                for value in tokenizer(text, padding=True, truncation=True, pad_to_multiple_of=multiple).values():
                    self.assertEqual(len(value) % math.lcm(multiple, 4), 0)
        # Unpadded rows are whole blocks but not rounded further (<|bos|> + "This is" is 12 bytes).
        for value in tokenizer("This is", pad_to_multiple_of=8).values():
            self.assertEqual(len(value), 12)
        with self.assertRaises(ValueError):
            tokenizer("This", padding=True, truncation=True, max_length=12, pad_to_multiple_of=8)

    def test_padding_with_attention_mask(self):  # BLOCKS
        tokenizer = self.get_tokenizer()
        features = [
            {"input_ids": [1, 2, 3, 4, 5, 6], "attention_mask": [1, 1, 1, 1, 1, 0]},
            {"input_ids": [1, 2, 3], "attention_mask": [1, 1, 0]},
        ]
        # Each row is completed to a block (its filler masked as the row's last
        # byte is), then padded with whole blocks.
        expected = {"right": [[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]]}
        expected["left"] = [[1, 1, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 1, 0, 0]]
        for side, masks in expected.items():
            tokenizer.padding_side = side
            self.assertEqual(tokenizer.pad(features)["attention_mask"], masks)

    def test_prepare_seq2seq_batch(self):  # BLOCKS: max_length=3 is less than a block
        with self.assertRaisesRegex(ValueError, "block"):
            super().test_prepare_seq2seq_batch()
        tokenizer = self.get_tokenizer()
        src, tgt = ["UN Chief Says There Is No Military Solution"], ["Şeful ONU declară că nu există o soluţie"]
        batch = tokenizer(src, text_target=tgt, max_length=4, max_target_length=12, return_tensors="pt")
        self.assertEqual((batch.input_ids.shape[1], batch.labels.shape[1]), (4, 12))
        batch = tokenizer(src, text_target=tgt, max_length=7, return_tensors="pt")
        self.assertEqual((batch.input_ids.shape[1], batch.labels.shape[1]), (4, 4))

    # -- the pad token is the filler ------------------------------------------------

    def test_pad_token_initialization(self):  # PAD
        with self.assertRaisesRegex(ValueError, "filler"):
            self.get_tokenizer(pad_token="[PAD]")
        tokenizer = self.get_tokenizer(pad_token=PAD_TOKEN)
        out = tokenizer(["Test this method.", "With these inputs and some extra tokens here."], padding=True)
        ids, mask = out["input_ids"][0], out["attention_mask"][0]
        self.assertIn(0, mask)
        self.assertEqual({i for i, m in zip(ids, mask, strict=True) if m == 0}, {tokenizer.pad_token_id})

    def test_tokenizers_common_ids_setters(self):  # PAD: the mixin's checks, except that pad is fixed
        tokenizer = self.get_tokenizer()
        token_id = next(iter(tokenizer.get_vocab().values()))
        token = tokenizer.convert_ids_to_tokens(token_id)
        for attr in ("bos_token", "eos_token", "unk_token", "sep_token", "cls_token", "mask_token"):
            for value, expected in ((None, (None, None)), (token_id, (token, token_id))):
                setattr(tokenizer, attr + "_id", value)
                self.assertEqual((getattr(tokenizer, attr), getattr(tokenizer, attr + "_id")), expected)
        for attr, value in (("pad_token_id", None), ("pad_token_id", token_id), ("pad_token", "[PAD]")):
            with self.assertRaisesRegex(ValueError, "filler"):
                setattr(tokenizer, attr, value)
        tokenizer.pad_token_id = 255  # setting it to what it is is fine
        self.assertEqual((tokenizer.pad_token, tokenizer.pad_token_id), (PAD_TOKEN, 255))
        tokenizer.extra_special_tokens_ids = [token_id]
        self.assertEqual((tokenizer.extra_special_tokens, tokenizer.extra_special_tokens_ids), ([token], [token_id]))

    # -- single texts only -------------------------------------------------------------

    def test_call(self):  # PAIRS: single texts and batches are checked first
        with self.assertRaisesRegex(ValueError, "not pairs"):
            super().test_call()

    def test_mask_output(self):  # PAIRS
        with self.assertRaisesRegex(ValueError, "not pairs"):
            super().test_mask_output()

    def test_number_of_added_tokens(self):  # PAIRS: the same count for single texts
        with self.assertRaisesRegex(ValueError, "not pairs"):
            super().test_number_of_added_tokens()
        tokenizer = self.get_tokenizer()
        for add_eos in (False, True):
            tokenizer.add_eos_token = add_eos
            text = "Test this method."
            added = len(tokenizer.encode(text)) - len(tokenizer.encode(text, add_special_tokens=False))
            self.assertEqual(tokenizer.num_special_tokens_to_add(), added)

    def test_maximum_encoding_length_pair_input(self):  # PAIRS
        with self.assertRaisesRegex(ValueError, "not pairs"):
            super().test_maximum_encoding_length_pair_input()

    def test_special_tokens_mask_input_pairs(self):  # PAIRS
        with self.assertRaisesRegex(ValueError, "not pairs"):
            super().test_special_tokens_mask_input_pairs()

    def test_pretokenized_inputs(self):  # WORDS
        with self.assertRaisesRegex(ValueError, "pre-tokenized"):
            super().test_pretokenized_inputs()

    # -- no overflowing tokens ---------------------------------------------------------

    def test_maximum_encoding_length_single_input(self):  # OVERFLOW: all up to the overflow part passes
        with self.assertRaisesRegex(ValueError, "overflowing tokens"):
            super().test_maximum_encoding_length_single_input()

    def test_batch_encode_dynamic_overflowing(self):  # OVERFLOW (the mixin's raise would be inside a subTest)
        tokenizer = self.get_tokenizer()
        for text in ("HuggingFace is solving NLP one commit at a time", ["Very tiny input", "x"]):
            with self.assertRaisesRegex(ValueError, "overflowing tokens"):
                tokenizer(text, max_length=8, truncation=True, padding=True, return_overflowing_tokens=True)


class ByGPTUtf8TokenizationTest(ByGPTTokenizationTest):
    scheme = "utf8"
