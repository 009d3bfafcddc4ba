from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

DATA = Path(__file__).parent / "data"

# CI's wheel stage sets this: the tests must then exercise the installed wheel, not the checkout.
if os.environ.get("BYGPT_CODEC_EXPECT_INSTALLED"):
    import sys

    import bygpt_codec

    _where = Path(bygpt_codec.__file__).resolve()
    if Path(sys.prefix).resolve() not in _where.parents:
        raise pytest.UsageError(f"bygpt_codec comes from {_where}, not from the installed wheel in {sys.prefix}")

# CI runs a fixed, modest number of examples; `HYPOTHESIS_PROFILE=long` digs deeper.
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def prose() -> str:
    return (DATA / "ja-prose-sample.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def mixed() -> str:
    return (DATA / "ja-mixed-sample.txt").read_text(encoding="utf-8")


@pytest.fixture(params=["jpblock", "utf8", "jpblock2"])
def scheme(request) -> str:
    return request.param
