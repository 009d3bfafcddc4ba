#!/usr/bin/env bash
# Runs the fuzz targets for a given time each and logs libFuzzer's final stats.
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# Rust targets (cargo fuzz, libFuzzer + AddressSanitizer): decode, round_trip,
# incremental_decode, batch. Python target (atheris, through the installed
# extension): python_api. Needs `cargo install cargo-fuzz` and, for the
# Python target, `pip install atheris` plus the package installed.
# Logs go to fuzz/logs/TARGET-DATE.log; crashes to fuzz/artifacts/TARGET/.
set -euo pipefail
seconds="${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}"
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode round_trip incremental_decode batch python_api)

cd "$(dirname "$0")/../fuzz"
mkdir -p logs
export RUSTC_BOOTSTRAP=1 # cargo fuzz needs nightly flags; the stable toolchain allows them this way
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
for target in "${targets[@]}"; do
    log="logs/$target-$stamp.log"
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "== $target for ${seconds}s -> $log"
    if [ "$target" = python_api ]; then
        python python/fuzz_api.py "corpus/$target" -max_total_time="$seconds" \
            -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"$log" 2>&1 || { tail -40 "$log"; exit 1; }
    else
        cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" \
            -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"$log" 2>&1 || { tail -40 "$log"; exit 1; }
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" | sed "s/^/   /"
done
