from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

DATA = Path(__file__).parent / "data"

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
