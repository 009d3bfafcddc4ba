"""atheris fuzzing of the Python API (the bindings and the Python layer).

    python fuzz/python/fuzz_api.py CORPUS_DIR -max_total_time=600

Every call must end in a correct result or a clean Python exception of the
documented kinds (TypeError, ValueError, its subclass DecodeError, and
MemoryError for batches too large to hold); anything else, a Rust panic
(pyo3's PanicException) or a crash, is a finding. Batch calls draw
`return_tensors` from "np" and "pt" (int64, the path a width * 8 overflow
once panicked on) and lengths up to 2**70.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    import bygpt_codec
    from bygpt_codec import Codec, DecodeError

import torch  # noqa: E402  (not instrumented: only its tensors are used)

CODECS = [Codec(s) for s in bygpt_codec.SCHEMES] + [Codec("jpblock", special_tokens={"<|u|>": 256})]
EXPECTED = (TypeError, ValueError, MemoryError)
# Lengths from tiny to absurd: whole blocks, not whole blocks, negative, past 2**64.
# add_bos/add_eos: None (follow add_special_tokens) or anything with a truth value.
FLAGS = [None, False, True, 0, 1, np.bool_(True)]
LENGTHS = [0, 3, 4, 8, 12, 40, -4, 2**40, 2**61, 2**61 + 4, 2**62, 2**63, 2**64 + 4, 2**70]


@atheris.instrument_func
def length(fdp: atheris.FuzzedDataProvider) -> int | None:
    if not fdp.ConsumeBool():
        return None
    if fdp.ConsumeBool():
        return LENGTHS[fdp.ConsumeIntInRange(0, len(LENGTHS) - 1)]
    return fdp.ConsumeIntInRange(-4, 48)


@atheris.instrument_func
def text(fdp: atheris.FuzzedDataProvider, n: int) -> str:
    # Any code point, lone surrogates included.
    return "".join(chr(fdp.ConsumeIntInRange(0, 0x10FFFF)) for _ in range(fdp.ConsumeIntInRange(0, n)))


# Instrument the harness too: the Rust extension is invisible to atheris, so
# without the harness's own branches (which operation, which options) as
# coverage, libFuzzer keeps only a handful of tiny inputs.
@atheris.instrument_func
def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    codec = CODECS[fdp.ConsumeIntInRange(0, len(CODECS) - 1)]
    op = fdp.ConsumeIntInRange(0, 7)
    try:
        if op == 0:
            t = text(fdp, 40)
            parse, add = fdp.ConsumeBool(), fdp.ConsumeBool()
            # encode is the native method: its flags are taken as bool(x) would.
            bos = FLAGS[fdp.ConsumeIntInRange(0, len(FLAGS) - 1)]
            eos = FLAGS[fdp.ConsumeIntInRange(0, len(FLAGS) - 1)]
            if fdp.ConsumeIntInRange(0, 15) == 0:
                not_text = [t.encode("utf-8", "surrogatepass"), None, 7, [t]][fdp.ConsumeIntInRange(0, 3)]
                try:
                    codec.encode(not_text)
                except TypeError:
                    return
                raise AssertionError(f"encode accepted {type(not_text).__name__}")
            encoded = codec.encode(t, parse_special=parse, add_special_tokens=add, add_bos=bos, add_eos=eos)
            assert len(encoded) % 4 == 0
            decoded = codec.decode(encoded)
            wrapped = any(add if f is None else bool(f) for f in (bos, eos))
            if not parse and not wrapped:
                assert decoded == t
        elif op == 1:
            raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
            out = codec.decode(raw, errors="replace", skip_special_tokens=fdp.ConsumeBool())
            assert isinstance(out, str)
            try:
                strict = codec.decode(raw)
                assert strict == codec.decode(raw, errors="replace")
            except DecodeError as e:
                assert 0 <= e.position < len(raw)
        elif op == 2:
            texts = [text(fdp, 12) for _ in range(fdp.ConsumeIntInRange(0, 6))]
            max_length = length(fdp)
            left_cut = fdp.ConsumeBool()
            out = codec.encode_batch(
                texts,
                padding_side="left" if fdp.ConsumeBool() else "right",
                truncation_side="left" if left_cut else "right",
                max_length=max_length,
                truncation=fdp.ConsumeBool() and max_length is not None,
                padding="max_length" if fdp.ConsumeBool() and max_length is not None else "longest",
                pad_to_multiple_of=length(fdp),
                add_special_tokens=fdp.ConsumeBool(),
                add_eos=fdp.ConsumeBool() if fdp.ConsumeBool() else None,
                return_tensors="pt" if fdp.ConsumeBool() else "np",
                return_special_tokens_mask=fdp.ConsumeBool(),
            )
            assert out["input_ids"].shape == out["attention_mask"].shape
            rows = codec.decode_batch(out["input_ids"], skip_special_tokens=True, errors="strict")
            for original, row in zip(texts, rows, strict=True):
                assert original.endswith(row) if left_cut else original.startswith(row)
        elif op == 3:
            raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 80))
            # Equality with one-shot decoding is checked by the Rust target
            # incremental_decode; here the Python face must not crash.
            dec = codec.incremental_decoder(errors="replace" if fdp.ConsumeBool() else "strict")
            pieces, rest = [], raw
            while rest:
                n = fdp.ConsumeIntInRange(0, 9)
                pieces.append(dec.decode(rest[:n]))
                rest = rest[n:]
                if not fdp.remaining_bytes():
                    break
            pieces.append(dec.decode(rest, final=True))
        elif op == 4:
            # int64 in native order is narrowed in Rust, the rest in numpy: same verdicts.
            dtypes = [np.uint8, np.int64, np.dtype(">i8"), np.int32, np.float32, np.int8]
            dtype = dtypes[fdp.ConsumeIntInRange(0, len(dtypes) - 1)]
            values = [fdp.ConsumeIntInRange(-300, 300) for _ in range(fdp.ConsumeIntInRange(0, 16))]
            arr = np.array(values).astype(dtype)
            as_bytes = np.array(values).astype(np.uint8) if all(0 <= v <= 255 for v in values) else None
            if fdp.ConsumeBool() and arr.size >= 4:
                arr = arr[: arr.size // 4 * 4].reshape(-1, 4)
                flip = fdp.ConsumeBool()
                out = codec.decode_batch(arr[:, ::-1] if flip else arr, errors="replace")
                if as_bytes is not None and arr.dtype.kind in "iu":
                    ref = as_bytes[: arr.size].reshape(-1, 4)
                    assert out == codec.decode_batch(ref[:, ::-1] if flip else ref, errors="replace")
            else:
                half = fdp.ConsumeBool()
                out = codec.decode(arr[::2] if half else arr, errors="replace")
                if as_bytes is not None and arr.dtype.kind in "iu":
                    assert out == codec.decode(as_bytes[::2] if half else as_bytes, errors="replace")
        elif op == 6:
            rows = [fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24)) for _ in range(fdp.ConsumeIntInRange(0, 5))]
            if fdp.ConsumeBool():
                rows = [list(r) for r in rows]
            max_length = length(fdp)
            out = codec.pad_batch(
                rows,
                padding_side="left" if fdp.ConsumeBool() else "right",
                padding="max_length" if fdp.ConsumeBool() and max_length is not None else "longest",
                max_length=max_length,
                pad_to_multiple_of=length(fdp),
                truncation=fdp.ConsumeBool() and max_length is not None,
                truncation_side="left" if fdp.ConsumeBool() else "right",
                return_tensors="pt" if fdp.ConsumeBool() else "np",
                return_special_tokens_mask=fdp.ConsumeBool(),
            )
            assert out["input_ids"].shape[0] == len(rows)
            codec.decode_batch(out["input_ids"], errors="replace")
        elif op == 7:
            texts = [text(fdp, 12) for _ in range(fdp.ConsumeIntInRange(0, 4))]
            max_length = length(fdp)
            rows = codec.encode_rows(
                texts,
                max_length=max_length,
                truncation=fdp.ConsumeBool() and max_length is not None,
                truncation_side="left" if fdp.ConsumeBool() else "right",
                add_bos=fdp.ConsumeBool(),
            )
            assert all(len(r) % 4 == 0 for r in rows)
            if fdp.ConsumeBool():
                t = torch.tensor([list(r) + [2**63 - 1] for r in rows[:1]])
                codec.decode_batch(t)
        else:
            name = text(fdp, 8)
            try:
                Codec("jpblock", special_tokens={name: fdp.ConsumeIntInRange(-5, 1 << 25)}).encode(
                    name, parse_special=True
                )
            except EXPECTED:
                pass
            codec.special_bytes(name) if name in codec.special_tokens else None
    except EXPECTED:
        pass


def main() -> None:
    assert bygpt_codec.SCHEMES
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
