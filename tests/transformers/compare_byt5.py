"""The same harness on transformers' stock ``ByT5Tokenizer``, for comparison
(not part of the test run; its counts are quoted in docs/transformers.md):

    python -m pytest tests/transformers/compare_byt5.py

``ByT5Stock`` is the harness of test_tokenization_bygpt.py with no
adaptation at all; ``ByT5Bare`` also has no local pretrained directory (the
mixin's loops over ``tokenizers_list`` then pass without running).
"""

from __future__ import annotations

import unittest

import pytest

transformers = pytest.importorskip("transformers")

from .harness import LocalSource, local_fixtures  # noqa: E402
from .test_tokenization_common import TokenizerTesterMixin  # noqa: E402


class ByT5Stock(LocalSource, TokenizerTesterMixin, unittest.TestCase):
    tokenizer_class = transformers.ByT5Tokenizer

    @classmethod
    def save_source(cls, directory: str) -> None:
        transformers.ByT5Tokenizer().save_pretrained(directory)


class ByT5Bare(TokenizerTesterMixin, unittest.TestCase):
    tokenizer_class = transformers.ByT5Tokenizer

    @classmethod
    def setUpClass(cls) -> None:
        with local_fixtures():
            super().setUpClass()
        transformers.ByT5Tokenizer().save_pretrained(cls.tmpdirname)
