#!/usr/bin/env bash
# Runs fuzz targets from the already-built binaries (see README.md), each for
# $SECS seconds (default 60), with the committed seeds, and prints libFuzzer's stats.
# New inputs go to $CORPUS/<target> (default corpus/, gitignored). Exits 1 if any target
# crashed or failed (after running all of them).
# Usage: fuzz/run.sh [target…]   (default: all targets)
# Build first: RUSTC_BOOTSTRAP=1 cargo fuzz build --target-dir fuzz/target
set -euo pipefail
cd "$(dirname "$0")"
SECS=${SECS:-60}
CORPUS=${CORPUS:-corpus}
BIN=target/x86_64-unknown-linux-gnu/release
# What `cargo fuzz run` sets: sqlite (via signet-server) defines a static twice.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    # Every [[bin]] of Cargo.toml, so a new target cannot be left out of the runs.
    mapfile -t TARGETS < <(awk '/^\[\[bin\]\]/ {b=1; next} b && /^name *=/ {gsub(/.*= *"|".*/, ""); print; b=0}' Cargo.toml)
fi
mkdir -p logs
failed=()
for t in "${TARGETS[@]}"; do
    mkdir -p "$CORPUS/$t" "artifacts/$t" "seeds/$t"
    echo "== $t (${SECS}s)"
    set +e
    # shellcheck disable=SC2086
    "$BIN/$t" "$CORPUS/$t" "seeds/$t" -max_total_time="$SECS" -print_final_stats=1 ${FUZZ_ARGS:-} \
        -artifact_prefix="artifacts/$t/" >"logs/$t.log" 2>&1
    rc=$?
    set -e
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "logs/$t.log" || true
    grep -E '^#[0-9]+.*(DONE|cov:)' "logs/$t.log" | tail -1 || true
    if [ $rc -ne 0 ]; then
        echo "!! $t exited with $rc; see fuzz/logs/$t.log and fuzz/artifacts/$t/"
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "!! failed: ${failed[*]}"
    exit 1
fi
