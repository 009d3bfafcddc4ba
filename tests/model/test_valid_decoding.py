"""Valid-only decoding over the scheme's byte automaton, both schemes.

* The device tables and the prompt's end state agree with the automaton
  walked byte by byte on the host.
* Greedy equals brute force over every valid block (on a restricted byte
  alphabet, and with two slots over all 256 values), and sampling draws the
  exact restricted product distribution.
* Generation with a random model never emits a block the codec rejects;
  ``valid_only=False`` reproduces the raw heads.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
bygpt_codec = pytest.importorskip("bygpt_codec")

from bygpt_codec.constants import FILLER, special_block  # noqa: E402
from bygpt_model import ByGPTConfig, ByGPTForCausalLM  # noqa: E402
from bygpt_model.automaton import (  # noqa: E402
    choose_valid_block,
    device_tables,
    host_tables,
    prompt_end_state,
    sampling_scores,
)

SCHEMES = bygpt_codec.SCHEMES
NEG = -1.0e4  # outside the alphabet: far below any in-alphabet block


def _offset0_states(host) -> list[int]:
    return [int(s) for s in host.members[0]]


# -- tables -----------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
def test_tables_follow_the_automaton(scheme):
    codec = bygpt_codec.Codec(scheme)
    host = host_tables(codec)
    valid = host.next >= 0
    assert (host.step[valid] == host.next[valid]).all()
    assert (host.step >= 0).all()
    # Offsets advance by one on every transition, recovering ones included.
    assert (host.offset[host.step] == (host.offset[:, None] + 1) % 4).all()
    # Filler from the start walks the code boundaries of each offset.
    assert [host.offset[s] for s in host.restart] == [0, 1, 2, 3]
    assert host.code_start[host.restart].all()
    text = "吾輩は猫である。名前はまだ無い。abc 😀 한국어\n"
    data = codec.encode(text, add_special_tokens=True)
    assert host.is_valid(data) and host.code_start[host.run(data)]
    assert host.is_valid(data[:-1]) and not host.code_start[host.run(data[:-1])]
    # allowed[s, b]: valid, and the block can still end in a live state
    # (allowed_last: on a code boundary).
    assert (host.next[host.allowed] >= 0).all()
    assert not (host.allowed_last & ~host.allowed).any()
    assert host.allowed[host.members[0]].any(axis=1).all()
    # A 4-byte code cannot start after offset 0, in any scheme.
    assert not host.allowed[host.restart[1], 0xFE]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_prompt_end_state_matches_a_host_walk(scheme):
    codec = bygpt_codec.Codec(scheme)
    host = host_tables(codec)
    tables = device_tables(host, "cpu")
    rng = np.random.default_rng(0)
    texts = ["", "a", "新しい", "これは😀です。", "한국어 text\n", "ア" * 7, "abc新"]
    rows = [codec.encode(t, add_special_tokens=True) for t in texts]
    # Cut valid streams mid-character (utf8 keeps an unfinished code), and
    # add garbage, which the recovering table must follow.
    rows += [codec.encode("これは😀です")[:12], bytes(rng.integers(0, 256, 40, dtype=np.uint8))]
    rows += [bytes(rng.integers(0, 256, 4 * n, dtype=np.uint8)) for n in (1, 2, 3, 5, 9)]
    rows = [r + bytes([FILLER]) * (-len(r) % 4) if len(r) % 4 else r for r in rows]
    rows = [r if r else special_block(1) for r in rows]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), FILLER, dtype=torch.long)
    mask = torch.zeros(len(rows), width // 4, dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(list(r))
        mask[i, (width - len(r)) // 4 :] = True
    got = prompt_end_state(tables, ids.view(len(rows), -1, 4), mask)
    assert got.tolist() == [host.run(r) for r in rows]


# -- greedy = brute force ------------------------------------------------------


def _brute_force(host, scores: np.ndarray, state: int, is_last: bool, alphabets: list[np.ndarray]):
    """Best valid block over the product of per-slot alphabets (numpy)."""
    grids = np.meshgrid(*alphabets, indexing="ij")
    blocks = np.stack([g.ravel() for g in grids], axis=1)  # [N, 4]
    s = np.full(len(blocks), state)
    ok = np.ones(len(blocks), dtype=bool)
    total = np.zeros(len(blocks))
    for k in range(4):
        t = host.next[s, blocks[:, k]]
        ok &= t >= 0
        s = np.maximum(t, 0)
        total += scores[k, blocks[:, k]]
    end = host.code_start if is_last else host.live
    ok &= end[s]
    total = np.where(ok, total, -np.inf)
    best = int(np.argmax(total))
    return blocks[best], total[best]


def _alphabet(host, rng, size: int) -> np.ndarray:
    """Bytes that exercise the scheme: every byte class that matters at the
    start (leads, filler, specials), trail-like bytes and random ones."""
    # Always: ASCII, filler and a continuation byte for every UTF-8 lead's
    # range, so that a valid block exists from every state.
    always = [0x61, 0xFF, 0x80, 0x90, 0xA0, 0xBF]
    interesting = [0x0A, 0x82, 0xE3, 0xE5, 0xED, 0xF0, 0xFB, 0xFC, 0xFD, 0xFE, 0x00]
    pool = sorted(set(interesting) | set(rng.integers(0, 256, size).tolist()))
    extra = rng.choice(pool, size=min(size, len(pool)), replace=False).tolist()
    return np.array(sorted(set(always) | set(extra)))


@pytest.mark.parametrize("scheme", SCHEMES)
def test_greedy_equals_brute_force(scheme):
    host = host_tables(scheme)
    tables = device_tables(host, "cpu")
    rng = np.random.default_rng(1)
    cases = []
    for state in _offset0_states(host):
        for is_last in (False, True):
            for trial in range(4):
                scores = rng.normal(0, 3, size=(4, 256))
                if trial % 2:
                    # Two slots over every byte value, two over a few.
                    full = rng.choice(4, size=2, replace=False)
                    alphabets = [np.arange(256) if k in full else _alphabet(host, rng, 0)[::2] for k in range(4)]
                else:
                    alphabets = [_alphabet(host, rng, 8)] * 4
                mask = np.full((4, 256), NEG)
                for k in range(4):
                    mask[k, alphabets[k]] = 0.0
                cases.append((state, is_last, scores + mask, alphabets))
    for is_last in (False, True):
        group = [c for c in cases if c[1] == is_last]
        scores = torch.tensor(np.stack([c[2] for c in group]), dtype=torch.float32)
        states = torch.tensor([c[0] for c in group])
        got = choose_valid_block(tables, scores, states, torch.tensor(is_last))
        checked = 0
        for row, (state, _, sc, alphabets) in enumerate(group):
            want, best = _brute_force(host, sc.astype(np.float32).astype(np.float64), state, is_last, alphabets)
            if not np.isfinite(best):
                continue  # no valid block inside these alphabets
            checked += 1
            picked = got[row].numpy()
            score = sum(float(scores[row, k, picked[k]]) for k in range(4))
            # Same block, or (float32 ties) one exactly as good.
            assert picked.tolist() == want.tolist() or abs(score - best) < 1e-4, (state, picked, want)
            assert host.is_valid(bytes(picked.tolist()), state)
        assert checked >= 0.75 * len(group)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_sampling_draws_the_restricted_product(scheme):
    """A few bytes per head, many rows at once: empirical block frequencies
    match p(block) ∝ prod_k p_k(b_k) over valid blocks (and top-k first)."""
    host = host_tables(scheme)
    tables = device_tables(host, "cpu")
    rng = np.random.default_rng(2)
    alphabet = np.array([0x0A, 0x61, 0x82, 0xE5, 0xFF] if scheme == "jpblock" else [0x61, 0x80, 0xA2, 0xE3, 0xFF])
    logits = np.full((4, 256), -np.inf)
    for k in range(4):
        logits[k, alphabet] = rng.normal(0, 1, len(alphabet))
    n, chunk = 6_000, 1_000
    gen = torch.Generator().manual_seed(7)
    for top_k in (None, 3):
        base = torch.tensor(logits, dtype=torch.float32)
        scores = sampling_scores(base[None].expand(chunk, -1, -1), 1.0, top_k, None)
        start = torch.full((chunk,), host.start)
        counts: dict[tuple[int, ...], int] = {}
        for _ in range(n // chunk):
            noise = torch.empty(chunk, 4, 256).exponential_(1.0, generator=gen)
            got = choose_valid_block(tables, scores, start, torch.tensor(False), noise)
            for row in got.tolist():
                counts[tuple(row)] = counts.get(tuple(row), 0) + 1
        lp = scores[0].double().numpy()
        weights = {}
        for block in itertools.product(alphabet.tolist(), repeat=4):
            s = host.start
            for b in block:
                s = host.next[s, b] if s >= 0 else -1
            if s >= 0 and host.live[s]:
                weights[block] = np.exp(sum(lp[k, b] for k, b in enumerate(block)))
        assert set(counts) <= set(weights)  # only valid blocks, only kept bytes (top-k)
        total = sum(weights.values())
        # Pearson's chi-square; blocks expected fewer than 5 times are pooled.
        chi2, cells, rare_seen, rare_expected = 0.0, 0, 0, 0.0
        for block, w in weights.items():
            expected = n * w / total
            if expected < 5:
                rare_seen += counts.get(block, 0)
                rare_expected += expected
                continue
            chi2 += (counts.get(block, 0) - expected) ** 2 / expected
            cells += 1
        if rare_expected >= 5:
            chi2 += (rare_seen - rare_expected) ** 2 / rare_expected
            cells += 1
        dof = cells - 1
        assert dof >= 5
        assert chi2 < dof + 5 * np.sqrt(2 * dof), (top_k, chi2, dof)


# -- generation ------------------------------------------------------------------


@pytest.fixture(scope="module", params=[(s, h) for s in SCHEMES for h in ("independent", "chained")])
def random_model(request):
    scheme, heads = request.param
    torch.manual_seed(5)
    return ByGPTForCausalLM(ByGPTConfig.preset("tiny", scheme=scheme, heads=heads)).eval()


def test_generated_blocks_are_always_valid(random_model):
    codec = bygpt_codec.Codec(random_model.config.scheme)
    prompts = ["吾輩は", "国境の長いトンネルを抜けると", "a", "😀"]
    batch = codec.encode_batch(prompts, padding_side="left", return_tensors="pt")
    settings = [
        dict(),
        dict(do_sample=True, generator=torch.Generator().manual_seed(0)),
        dict(do_sample=True, temperature=1.5, top_k=5, top_p=0.9, generator=torch.Generator().manual_seed(1)),
    ]
    for kw in settings:
        out = random_model.generate(**batch, max_new_tokens=96, stop_on_eos=False, **kw)
        texts = codec.decode_batch(out, errors="strict")  # raises on any invalid block
        for prompt, text in zip(prompts, texts, strict=True):
            assert text.startswith(prompt)
    # The raw heads of a random model do produce invalid blocks.
    raw = random_model.generate(**batch, max_new_tokens=96, valid_only=False, stop_on_eos=False)
    with pytest.raises(ValueError):
        codec.decode_batch(raw, errors="strict")


def test_valid_only_off_reproduces_the_raw_heads(random_model):
    """Each head's argmax, computed by hand from the full forward pass."""
    codec = bygpt_codec.Codec(random_model.config.scheme)
    ids = torch.tensor(list(codec.encode("吾輩は猫である。")))[None]
    out = random_model.generate(ids, max_new_tokens=32, valid_only=False, stop_on_eos=False)
    seq = ids
    for _ in range(8):
        logits = random_model(seq)[:, -1]  # chained: fed its own argmax bytes
        seq = torch.cat([seq, logits.argmax(-1)], dim=1)
    assert torch.equal(out, seq)


def test_valid_greedy_is_the_best_valid_block_of_the_model():
    """Independent heads: with the cache or without, every generated block is
    the brute-force best valid block under the model's own logits (checked
    on the first block over a restricted alphabet via the same tables)."""
    torch.manual_seed(3)
    model = ByGPTForCausalLM(ByGPTConfig.preset("tiny")).eval()
    codec = bygpt_codec.Codec("jpblock")
    ids = torch.tensor(list(codec.encode("すべての")))[None]
    out = model.generate(ids, max_new_tokens=4, stop_on_eos=False)
    with torch.no_grad():
        logits = model(ids)[0, -1].double().numpy()
    host = host_tables("jpblock")
    # Brute force over the 24 best bytes of each head (the best valid block
    # lies there unless a head's top bytes are all invalid, checked below).
    alphabets = [np.argsort(-logits[k])[:24] for k in range(4)]
    want, best = _brute_force(host, logits, host.start, True, alphabets)
    assert np.isfinite(best)
    got = out[0, -4:].numpy()
    got_score = sum(logits[k, got[k]] for k in range(4))
    assert got_score >= best - 1e-4
    assert got.tolist() == want.tolist()
