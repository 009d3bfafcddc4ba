#!/usr/bin/env bash
# One check of the reference model on a GPU machine, in under 8 minutes:
#
#   1. the CUDA tests of tests/model (bf16, CUDA graphs, the compiled step,
#      20 distinct shapes through the compile buckets);
#   2. benchmarks/generate.py for the 6.5b preset at batch 1 (bf16, CUDA
#      graph + compile) and at batch 8 and 64 (bf16, CUDA graph): steps/s and
#      the share of the roofline;
#   3. a short training run (python -m bygpt_model.train, bf16 autocast) on
#      a shard packed from the test corpus, with held-out bits per character.
#
# It ends with one summary block (also written to $OUT/gpu_check_summary.txt,
# with every log next to it). Without CUDA it runs the CPU-only parts (the
# tests/model suite with its CUDA tests skipped, the benchmark on the tiny
# preset, the training run on the CPU) and says so.
#
#   scripts/gpu_check.sh                  # logs in $OUT, or a temporary folder
#   PYTHON=.venv/bin/python scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python}"
OUT="${OUT:-$(mktemp -d -t gpu-check-XXXXXX)}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/model${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
elapsed() { echo $(($(date +%s) - START)); }

CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
if [ "$CUDA" = 1 ]; then
    DEVICE=$("$PY" -c "import torch; print(torch.cuda.get_device_name(0))")
else
    DEVICE="none (no CUDA): CPU-only parts"
fi
echo "gpu_check: device: $DEVICE; logs in $OUT" >&2

# -- 1. tests ---------------------------------------------------------------
run_tests() {  # LIMIT LOG ARGS...: one pytest run; prints its result line
    local limit=$1 log=$2
    shift 2
    timeout "$limit" "$PY" -m pytest "$@" -q -rs -p no:cacheprovider >"$OUT/$log" 2>&1
    local rc=$?
    local line
    line=$(grep -E "(passed|failed|error)" "$OUT/$log" | tail -1)
    [ "$rc" = 124 ] && line="timed out after ${limit}s ($line)"
    echo "$rc|$line"
}
if [ "$CUDA" = 1 ]; then
    # The CUDA tests (bf16, graphs, no syncs), then the compile tests (opt-in
    # on the CPU; here they compile with CUDA graphs, 20 shapes included).
    R1=$(run_tests 60 tests-cuda.log tests/model -k cuda)
    export BYGPT_TEST_COMPILE=1
    R2=$(run_tests 120 tests-compile.log tests/model -k compile)
    unset BYGPT_TEST_COMPILE
    TEST_RC=$(( ${R1%%|*} || ${R2%%|*} ))
    TEST_LINE="cuda: ${R1#*|}; compile: ${R2#*|}"
else
    R1=$(run_tests 240 tests.log tests/model --deselect tests/model/test_hf.py)
    TEST_RC=${R1%%|*}
    TEST_LINE=${R1#*|}
fi
echo "gpu_check: tests done at $(elapsed)s: $TEST_LINE" >&2

# -- 2. generation benchmark ------------------------------------------------
if [ "$CUDA" = 1 ]; then
    # Batch 1 (the roofline target) with a compiled, captured step; batch 8
    # and 64 with CUDA graphs only, so that compiling 6.5b three times does
    # not eat the budget.
    timeout 150 "$PY" benchmarks/generate.py --preset 6.5b --batch-sizes 1 --compile on \
        --json "$OUT/generate-1.json" >"$OUT/generate.log" 2>&1
    RC1=$?
    timeout 75 "$PY" benchmarks/generate.py --preset 6.5b --batch-sizes 8 64 --compile off \
        --json "$OUT/generate-8-64.json" >>"$OUT/generate.log" 2>&1
    RC2=$?
    BENCH_RC=$(( RC1 || RC2 ))
else
    timeout 120 "$PY" benchmarks/generate.py --device cpu --preset tiny --batch-sizes 1 8 64 --repeats 2 \
        --json "$OUT/generate-1.json" >"$OUT/generate.log" 2>&1
    BENCH_RC=$?
fi
echo "gpu_check: benchmark done at $(elapsed)s (exit $BENCH_RC)" >&2

# -- 3. a short training run -------------------------------------------------
DATA="$OUT/data"
mkdir -p "$DATA"
"$PY" - "$DATA" <<'EOF'
import sys
from pathlib import Path

lines = Path("tests/data/ja-prose-sample.txt").read_text(encoding="utf-8").splitlines(keepends=True)
for i in range(0, len(lines), 50):
    Path(sys.argv[1], f"doc{i // 50:03d}.txt").write_text("".join(lines[i : i + 50]), encoding="utf-8")
EOF
"$PY" -m bygpt_codec pack "$DATA"/doc*.txt --format text -o "$DATA/sample" -q
if [ "$CUDA" = 1 ]; then
    TRAIN=(--preset small --steps 300 --batch-size 32 --window 1024 --eval-windows 32)
else
    TRAIN=(--preset tiny --steps 60 --batch-size 8 --window 256 --eval-windows 16)
fi
timeout 60 "$PY" -m bygpt_model.train --data "$DATA/sample" --out "$OUT/train" "${TRAIN[@]}" \
    --log-every 20 >"$OUT/train.log" 2>&1
TRAIN_RC=$?
echo "gpu_check: training done at $(elapsed)s (exit $TRAIN_RC)" >&2

# -- summary -----------------------------------------------------------------
"$PY" - "$OUT" "$DEVICE" "$TEST_RC" "$TEST_LINE" "$BENCH_RC" "$TRAIN_RC" "$(elapsed)" >"$OUT/gpu_check_summary.txt" <<'EOF'
import json
import sys
from pathlib import Path

out, device, test_rc, test_line, bench_rc, train_rc, seconds = sys.argv[1:]
print("=" * 72)
print(f"gpu_check summary ({seconds} s); device: {device}")
print(f"tests:     {'OK' if test_rc == '0' else 'FAILED (exit ' + test_rc + ')'}: {test_line}")
benches = [json.loads(p.read_text()) for p in sorted(Path(out).glob("generate-*.json"))]
if not benches:
    print(f"generate:  FAILED (exit {bench_rc}); see {out}/generate.log")
for b in benches:
    print(
        f"generate:  {b['preset']} {b['dtype']}, cuda graph {b['cuda_graph']}, compile {b['compile']}, "
        f"peak {b['peak_bandwidth_gbs']} GB/s"
    )
    for r in b["results"]:
        roof = f"{r['roofline']:.1%}" if r["roofline"] is not None else "n/a"
        print(
            f"           batch {r['batch']:>3}: {r['steps_per_s']:8.1f} steps/s, {r['ms_per_step']:7.3f} ms/step, "
            f"{r['bytes_per_s']:10.0f} bytes/s, roofline {roof} (weights + {r['kv_bytes_per_step'] / 1e6:.1f} MB KV)"
        )
if benches and bench_rc != "0":
    print(f"generate:  partly FAILED (exit {bench_rc}); see {out}/generate.log")
metrics = Path(out, "train", "metrics.json")
if train_rc == "0" and metrics.exists():
    m = json.loads(metrics.read_text())
    ev = m.get("eval", {})
    rate = m["bytes_seen"] / max(m["train_seconds"], 1e-9)
    print(
        f"train:     {m['config']['hidden_size']}-wide x {m['config']['num_hidden_layers']} layers, "
        f"{m['steps']} steps in {m['train_seconds']:.1f} s ({rate / 1e3:.0f} kB/s), "
        f"held-out {ev.get('bits_per_char', float('nan')):.3f} bits/char"
    )
else:
    print(f"train:     FAILED (exit {train_rc}); see {out}/train.log")
if device.startswith("none"):
    print("No GPU was available: the CUDA tests were skipped and the figures above are CPU figures.")
print(f"logs:      {out}")
print("=" * 72)
EOF
cat "$OUT/gpu_check_summary.txt"
[ "$TEST_RC" = 0 ] && [ "$BENCH_RC" = 0 ] && [ "$TRAIN_RC" = 0 ]
