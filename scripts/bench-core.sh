#!/usr/bin/env bash
# coffer-core's in-memory throughput (the criterion benches in crypto-core/benches) next to
# the machine's AES-256-GCM limit (`openssl speed`), both on one core (taskset -c 0).
#
#   scripts/bench-core.sh          the 0x0478 benches and the backend ceiling (about 1 min)
#   scripts/bench-core.sh all      every bench: 11 suites at 1 MiB, 5 suites at 64 MiB (a few min)
#   scripts/bench-core.sh REGEX    the benches whose id matches REGEX (criterion's filter)
#
# Prints GB/s (10^9 bytes/s of plaintext, criterion's median) and the ratio to OpenSSL's
# 16 KiB-block figure. BENCH_OPENSSL_SECONDS (3) is passed to `openssl speed -seconds`.
set -euo pipefail
cd "$(dirname "$0")/.."

case ${1:-} in
    '') filter='/0478/|backend-' ;;
    all) filter='' ;;
    *) filter=$1 ;;
esac
pin=(taskset -c 0)
command -v taskset >/dev/null || pin=()

echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -p coffer-core --bench throughput --no-run --quiet 2>/dev/null

# OpenSSL: the last line is "AES-256-GCM <16 B> <64 B> <256 B> <1 KiB> <8 KiB> <16 KiB>", in
# thousands of bytes per second.
line=$("${pin[@]}" openssl speed -evp aes-256-gcm -seconds "${BENCH_OPENSSL_SECONDS:-3}" 2>/dev/null | tail -n 1)
ossl=$(awk '{ v = $NF; sub(/k$/, "", v); printf "%.4f", v * 1000 / 1e9 }' <<<"$line")
echo "# openssl speed -evp aes-256-gcm (one core): $line"
echo "# OpenSSL 16 KiB blocks: $ossl GB/s"

stamp=$(mktemp)
log=$(mktemp)
trap 'rm -f "$stamp" "$log"' EXIT
if ! "${pin[@]}" cargo bench -p coffer-core --bench throughput --quiet -- "$filter" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi

echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-38s %9s %12s\n' "bench" "GB/s" "vs OpenSSL"
find target/criterion -path '*/new/benchmark.json' -newer "$stamp" | sort | while read -r b; do
    id=$(sed -E 's/.*"full_id":"([^"]*)".*/\1/' "$b")
    bytes=$(sed -E 's/.*"Bytes":([0-9]+).*/\1/' "$b")
    ns=$(sed -E 's/.*"median":\{"confidence_interval":\{[^}]*\},"point_estimate":([0-9.eE+-]+).*/\1/' \
        "$(dirname "$b")/estimates.json")
    awk -v id="$id" -v b="$bytes" -v ns="$ns" -v o="$ossl" \
        'BEGIN { g = b / ns; printf "%-38s %9.3f %12.2f\n", id, g, g / o }'
done
