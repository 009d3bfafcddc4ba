"""Config presets and parameter counts."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from bygpt_model import (  # noqa: E402
    ByGPTConfig,
    ByGPTForCausalLM,
    count_parameters,
    expected_parameters,
)


def test_tiny_is_well_under_a_million_parameters():
    config = ByGPTConfig.preset("tiny")
    model = ByGPTForCausalLM(config)
    assert model.num_parameters() == count_parameters(config) == expected_parameters(config)
    assert model.num_parameters() < 500_000
    assert config.num_key_value_heads < config.num_attention_heads  # exercises GQA


def test_6_5b_preset_counts_without_allocating():
    config = ByGPTConfig.preset("6.5b")
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (4096, 32, 32)
    assert config.intermediate_size == 11008
    assert config.max_position_embeddings == 2880 and config.max_length_bytes == 11520
    with torch.device("meta"):
        model = ByGPTForCausalLM(config)
    assert all(p.device.type == "meta" for p in model.parameters())
    n = model.num_parameters()
    assert n == expected_parameters(config) == 6_498_291_712
    assert abs(n - 6.5e9) / 6.5e9 < 0.01


def test_preset_overrides_and_round_trip(tmp_path):
    config = ByGPTConfig.preset("tiny", num_hidden_layers=3)
    assert config.num_hidden_layers == 3
    assert config.byte_embedding_size == config.hidden_size // 4
    config.save(tmp_path / "c.json")
    assert ByGPTConfig.load(tmp_path / "c.json") == config
    assert ByGPTConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(hidden_size=60, num_attention_heads=8),
        dict(num_attention_heads=4, num_key_value_heads=3),
        dict(pad_token_id=256),
    ],
)
def test_bad_configs_raise(kwargs):
    with pytest.raises(ValueError):
        ByGPTConfig.preset("tiny", **kwargs)


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        ByGPTConfig.preset("13b")


def test_heads_and_scheme_fields():
    import bygpt_codec

    config = ByGPTConfig.preset("tiny", heads="chained", scheme="utf8")
    assert ByGPTConfig.from_dict(config.to_dict()) == config
    assert ByGPTConfig().heads == "independent" and ByGPTConfig().scheme == "jpblock"
    for scheme in bygpt_codec.SCHEMES:
        ByGPTConfig(scheme=scheme)
    with pytest.raises(ValueError, match="heads"):
        ByGPTConfig(heads="tree")
    with pytest.raises(ValueError, match="scheme"):
        ByGPTConfig(scheme="latin1")
    chained = ByGPTConfig.preset("tiny", heads="chained")
    assert count_parameters(chained) == expected_parameters(chained) > expected_parameters(ByGPTConfig.preset("tiny"))
