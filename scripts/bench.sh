#!/usr/bin/env bash
# File-to-file benchmark of `coffer encrypt` / `coffer decrypt` against a plain `cat` copy.
#
# Makes a random file (1 GiB; BENCH_SIZE_MB to change) on tmpfs (/dev/shm, else a temp dir)
# and a raw AES-256 key file (mode 0600), then times, median of 3 runs each (after 1 warm-up):
#   cat IN > OUT                              the I/O ceiling
#   coffer encrypt / decrypt                  suites 0578 (default) and 0478, frame sizes
#                                             4096 (default) and 65536
# Every decryption is checked against the input with cmp. Reports wall seconds (median and
# best), MB/s (10^6 bytes of plaintext per second), the ratio to the cat copy (cat time /
# coffer time) and the peak RSS (GNU time %M, largest of the runs).
#
# Environment:
#   BENCH_SIZE_MB=1024   size of the plaintext
#   BENCH_RUNS=3         timed runs per measurement (the median is reported)
#   BENCH_WARMUP=1       untimed runs before them
#   BENCH_TOOL=cli       cli: target/release/coffer; example: the coffer-core example
#                        file_encrypt (used automatically when the CLI cannot be built)
#   BENCH_COFFER=PATH    a coffer binary to measure instead of building one (to compare builds)
#   BENCH_DIR=DIR        where the files go (default /dev/shm, else a temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

size_mb=${BENCH_SIZE_MB:-1024}
runs=${BENCH_RUNS:-3}
warmup=${BENCH_WARMUP:-1}
tool=${BENCH_TOOL:-cli}

say() { printf '%s\n' "$*" >&2; }

# GNU time (the bash keyword cannot report the peak RSS).
if ! /usr/bin/time -f %M true >/dev/null 2>&1; then
    say "installing GNU time (Debian package 'time')"
    apt-get update -qq >/dev/null && apt-get install -y -qq time >/dev/null
fi

# The tool under test.
if [[ -n ${BENCH_COFFER:-} ]]; then
    coffer=$BENCH_COFFER
    tool=cli
elif [[ $tool == cli ]]; then
    if cargo build --release --quiet -p coffer && target/release/coffer encrypt --help >/dev/null 2>&1; then
        coffer=$root/target/release/coffer
    else
        say "the coffer CLI does not build or run: falling back to the file_encrypt example"
        tool=example
    fi
fi
if [[ $tool == example ]]; then
    cargo build --release --quiet -p coffer-core --example file_encrypt
    example=$root/target/release/examples/file_encrypt
fi

# Files on tmpfs.
if [[ -n ${BENCH_DIR:-} ]]; then
    mkdir -p "$BENCH_DIR"
    work=$(mktemp -d "$BENCH_DIR/coffer-bench.XXXXXX")
elif [[ -d /dev/shm && -w /dev/shm ]]; then
    work=$(mktemp -d /dev/shm/coffer-bench.XXXXXX)
else
    work=$(mktemp -d)
fi
trap 'rm -rf "$work"' EXIT
in=$work/plain.bin
key=$work/bench.key
(umask 077 && head -c 32 /dev/urandom >"$key")
chmod 600 "$key"
say "making $size_mb MiB of random data in $work"
head -c $((size_mb * 1024 * 1024)) /dev/urandom >"$in"
bytes=$(stat -c %s "$in")

# run_timed OUTFILE CMD...: runs CMD (OUTFILE removed first), prints "SECONDS PEAK_KIB".
run_timed() {
    local out=$1
    shift
    rm -f "$out"
    local t0 t1
    t0=$(date +%s%N)
    /usr/bin/time -f %M -o "$work/rss" "$@"
    t1=$(date +%s%N)
    printf '%s %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')" "$(cat "$work/rss")"
}

# measure OUTFILE CMD...: BENCH_WARMUP untimed runs, then BENCH_RUNS timed runs; prints
# "MEDIAN_SECONDS BEST_SECONDS MAX_PEAK_KIB". (The warm-up matters on VMs where writing to
# memory the guest has not touched lately costs several times more than the copy itself:
# tmpfs pages freed by `rm` may go back to the host within seconds. That noise only ever
# adds time, hence the best run next to the median.)
measure() {
    local out=$1
    shift
    local i results=()
    for ((i = 0; i < warmup; i++)); do
        rm -f "$out"
        "$@" >/dev/null
    done
    for ((i = 0; i < runs; i++)); do
        results+=("$(run_timed "$out" "$@")")
    done
    printf '%s\n' "${results[@]}" | sort -n -k1,1 | awk '
        { t[NR] = $1; if ($2 > rss) rss = $2 }
        END { printf "%s %s %d\n", t[int((NR + 1) / 2)], t[1], rss }'
}

# set_encrypt SUITE FRAME IN OUT / set_decrypt IN OUT: the command, in the array `cmd`.
set_encrypt() {
    if [[ $tool == cli ]]; then
        cmd=("$coffer" encrypt -q --key "aes:$key" --suite "$1" --frame-size "$2" -i "$3" -o "$4")
    else
        cmd=("$example" encrypt "$key" "$3" "$4" "$1" "$2")
    fi
}
set_decrypt() {
    if [[ $tool == cli ]]; then
        cmd=("$coffer" decrypt -q --key "aes:$key" -i "$1" -o "$2")
    else
        cmd=("$example" decrypt "$key" "$1" "$2")
    fi
}

rows=()
row() { # LABEL MEDIAN_SECONDS BEST_SECONDS PEAK_KIB
    rows+=("$(awk -v l="$1" -v s="$2" -v m="$3" -v k="$4" -v b="$bytes" -v c="$cat_s" -v cm="$cat_best" 'BEGIN {
        printf "%-28s %8.3f %8.3f %8.0f %8.2f %8.2f %9.1f", l, s, m, b / s / 1e6, c / s, cm / m, k / 1024 }')")
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "cat copy"
read -r cat_s cat_best cat_kib < <(measure "$work/copy.bin" bash -c 'cat "$1" >"$2"' _ "$in" "$work/copy.bin")
rm -f "$work/copy.bin"
row "cat IN > OUT" "$cat_s" "$cat_best" "$cat_kib"

for suite in 0578 0478; do
    for frame in 4096 65536; do
        ct=$work/msg-$suite-$frame.coffer
        say "encrypt suite $suite frame $frame"
        set_encrypt "$suite" "$frame" "$in" "$ct"
        read -r s best kib < <(measure "$ct" "${cmd[@]}")
        row "encrypt $suite frame $frame" "$s" "$best" "$kib"
        say "decrypt suite $suite frame $frame"
        set_decrypt "$ct" "$work/out.bin"
        read -r s best kib < <(measure "$work/out.bin" "${cmd[@]}")
        cmp "$in" "$work/out.bin" || { say "round trip failed: suite $suite frame $frame"; exit 1; }
        row "decrypt $suite frame $frame" "$s" "$best" "$kib"
        rm -f "$ct" "$work/out.bin"
    done
done

case $tool in
    cli) what="coffer CLI ($coffer)" ;;
    *) what="coffer-core example file_encrypt ($example)" ;;
esac
echo "# $what, $size_mb MiB on $(df --output=fstype "$work" | tail -1) ($work)"
echo "# $runs runs after $warmup warm-up; MB/s and vs cat (cat seconds / seconds) from the medians,"
echo "# (best) = cat's best / the best; load: $load_before (before), $(cut -d' ' -f1-3 /proc/loadavg) (after)"
printf '%-28s %8s %8s %8s %8s %8s %9s\n' "what" "median s" "best s" "MB/s" "vs cat" "(best)" "peak MiB"
printf '%s\n' "${rows[@]}"
