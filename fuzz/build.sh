#!/usr/bin/env bash
# Builds every fuzz target, then replays each target's seeds and regression inputs once.
# CI calls this. Exits non-zero if anything fails.
#
# Works on the stable toolchain: cargo-fuzz passes nightly-only rustc flags
# (-Zsanitizer=address), and RUSTC_BOOTSTRAP=1 makes stable rustc accept them.
# FUZZ_SANITIZER=none builds without AddressSanitizer (coverage instrumentation only).
set -euo pipefail

fuzz_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$fuzz_dir/.."
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "build.sh: cargo-fuzz not found, installing it" >&2
    cargo install cargo-fuzz --locked
fi

cargo fuzz build --sanitizer "$sanitizer"

bin_dir="$fuzz_dir/target/x86_64-unknown-linux-gnu/release"
for target in header context decrypt; do
    inputs=()
    for d in "$fuzz_dir/seeds/$target" "$fuzz_dir/regressions/$target"; do
        if [ -d "$d" ]; then
            while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$d" -type f -print0 | sort -z)
        fi
    done
    if [ "${#inputs[@]}" -eq 0 ]; then
        echo "build.sh: no seeds for $target" >&2
        exit 1
    fi
    # Given files (not directories), libFuzzer runs each once and exits non-zero on a failure.
    "$bin_dir/$target" "${inputs[@]}" >"$fuzz_dir/target/replay-$target.log" 2>&1 || {
        tail -n 40 "$fuzz_dir/target/replay-$target.log" >&2
        echo "build.sh: $target failed on its seeds or regressions" >&2
        exit 1
    }
    echo "build.sh: $target ok on ${#inputs[@]} seed/regression inputs"
done
echo "build.sh: all fuzz targets built"
