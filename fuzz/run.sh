#!/usr/bin/env bash
# Usage: fuzz/run.sh TARGET SECONDS [more libFuzzer flags]
#
# Fuzzes TARGET for SECONDS, starting from fuzz/seeds/TARGET (read only) and the working
# corpus fuzz/corpus/TARGET (new inputs go there; git-ignored). Crashes land in
# fuzz/artifacts/TARGET. The full log is kept in fuzz/logs/; the final stats are printed.
# One process, no -jobs/-workers. Exit status: libFuzzer's (non-zero on a finding).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 TARGET SECONDS [libFuzzer flags...]" >&2
    exit 2
fi
target=$1
secs=$2
shift 2

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$fuzz_dir/.."
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}

mkdir -p "$fuzz_dir/corpus/$target" "$fuzz_dir/logs"
log="$fuzz_dir/logs/$target-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "run.sh: fuzzing $target for $secs s, log in $log"

status=0
cargo fuzz run --sanitizer "$sanitizer" "$target" \
    "$fuzz_dir/corpus/$target" "$fuzz_dir/seeds/$target" -- \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$@" >"$log" 2>&1 || status=$?

echo "run.sh: exit status $status"
grep -E '^#[0-9]+' "$log" | tail -n 1 || true
grep -E '^(stat::|Done )' "$log" || true
if [ "$status" -ne 0 ]; then
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written|artifact_prefix' "$log" | head -n 20 || true
fi
exit "$status"
