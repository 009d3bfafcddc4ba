"""Setup for the transformers tests.

The vendored modules of transformers' own suite (see README.md) hold mixins
and transformers' own test classes for Bert and T5, which need the Hub: they
are imported by our test modules, never collected themselves.

The suite imports ``parameterized`` (transformers' test dependency). Where it
is not installed, a minimal stand-in provides ``parameterized.expand`` with the
same generated test names (``test_x_0``, ``test_x_1``, ...).
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from pathlib import Path

# bygpt_model from a plain checkout too (as tests/model/conftest.py does).
_MODEL = str(Path(__file__).resolve().parents[2] / "model")
if _MODEL not in sys.path:
    sys.path.insert(0, _MODEL)

collect_ignore = [
    "test_tokenization_common.py",
    "test_sentencepiece_backend_mixin.py",
    "test_tokenizers_backend_mixin.py",
]

try:
    import parameterized  # noqa: F401
except ImportError:

    class _Parameterized:
        @staticmethod
        def expand(params, **_: object):
            def inject(func):
                namespace = inspect.currentframe().f_back.f_locals
                for num, args in enumerate(params):
                    args = args if isinstance(args, tuple) else (args,)

                    @functools.wraps(func)
                    def case(self, _args=args):
                        return func(self, *_args)

                    case.__name__ = f"{func.__name__}_{num}"
                    namespace[case.__name__] = case
                func.__test__ = False
                return func

            return inject

    module = types.ModuleType("parameterized")
    module.parameterized = _Parameterized
    sys.modules["parameterized"] = module


def pytest_configure(config):
    # transformers.testing_utils.slow marks tests this way.
    config.addinivalue_line("markers", "slow: transformers' slow tests (skipped unless RUN_SLOW=1)")
