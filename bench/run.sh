#!/usr/bin/env bash
# bench/run.sh: coffer against the I/O ceiling (cat, cp -r), the hash ceiling of the signed
# suite (openssl dgst -sha384), AES-GCM in memory (openssl speed) and two peers (age,
# aws-encryption-cli). Progress goes to stderr; the report (machine facts and one markdown
# table) goes to stdout. Exit status 1 when a coffer or age round trip fails or mismatches.
#
#   bench/run.sh                                   # full run: 64 MiB + 1 GiB, 1000-file trees
#   BENCH_BIG_MB=128 BENCH_FILES=200 bench/run.sh  # quick run
#
# Knobs (environment): COFFER, BENCH_RUNS, BENCH_LAT_RUNS, BENCH_MID_MB, BENCH_BIG_MB,
# BENCH_FILES, BENCH_CACHE, BENCH_STRICT, BENCH_SKIP, BENCH_SPEED_SECONDS (see bench/README.md).
set -euo pipefail
export LC_ALL=C

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

RUNS=${BENCH_RUNS:-3}
LAT_RUNS=${BENCH_LAT_RUNS:-20}
MID_MB=${BENCH_MID_MB:-64}
BIG_MB=${BENCH_BIG_MB:-1024}
FILES=${BENCH_FILES:-1000}
CACHE=${BENCH_CACHE:-$HOME/.cache/coffer-bench}
STRICT=${BENCH_STRICT:-0}
SKIP=" ${BENCH_SKIP:-} "
SPEED_SECONDS=${BENCH_SPEED_SECONDS:-3}
FRAME=65536
RSS_GOAL_MIB=64

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }

for knob in RUNS LAT_RUNS MID_MB BIG_MB FILES SPEED_SECONDS; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer (got '${!knob}')"
done

# ---------------------------------------------------------------------------------------
# Installing what is missing. A peer that cannot be had is left out ("n/a" rows) unless
# BENCH_STRICT=1. GNU time is required: it is how peak RSS is read.
# ---------------------------------------------------------------------------------------
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "${#SUDO[@]}" -gt 0 ] && ! command -v sudo >/dev/null 2>&1; then return 1; fi
  if [ "$APT_UPDATED" = 0 ]; then
    "${SUDO[@]}" apt-get update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  log "bench: apt-get install $*"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

declare -A UNAVAILABLE=()
peer_unavailable() { # NAME REASON
  [ "$STRICT" = 1 ] && die "$1 is not available ($2) and BENCH_STRICT=1"
  log "bench: NOTE: $1 is not available ($2); its rows will read n/a"
  UNAVAILABLE[$1]=$2
}
have() { [ -z "${UNAVAILABLE[$1]:-}" ]; }
skipped() { [[ $SKIP == *" $1 "* ]]; }

if ! /usr/bin/time -f '%M' true 2>/dev/null; then
  apt_install time || die "GNU time (/usr/bin/time, Debian package 'time') is required and could not be installed"
fi

if ! command -v openssl >/dev/null 2>&1; then
  apt_install openssl || peer_unavailable openssl "apt-get install openssl failed"
fi

if skipped age; then
  UNAVAILABLE[age]="skipped (BENCH_SKIP)"
elif ! command -v age >/dev/null 2>&1 || ! command -v age-keygen >/dev/null 2>&1; then
  apt_install age || peer_unavailable age "apt-get install age failed"
fi

# aws-encryption-sdk-cli lives in its own virtualenv (it pins an older aws-encryption-sdk),
# with our raw-key provider plugin (bench/esdk-cli-rawkey) installed next to it. The venv
# is kept between runs; the plugin is reinstalled when its source changes.
ESDK_VENV=$CACHE/esdk-cli-venv
ESDK_CLI=$ESDK_VENV/bin/aws-encryption-cli
PLUGIN_SRC=$BENCH_DIR/esdk-cli-rawkey
setup_esdk_cli() {
  local want stamp=$ESDK_VENV/.coffer-bench-plugin tmp
  want=$(cat "$PLUGIN_SRC/pyproject.toml" "$PLUGIN_SRC/coffer_bench_rawkey/__init__.py" | sha256sum | cut -c1-16)
  if [ -x "$ESDK_CLI" ] && [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then return 0; fi
  if ! command -v python3 >/dev/null 2>&1; then apt_install python3 python3-venv || return 1; fi
  if [ ! -x "$ESDK_VENV/bin/pip" ]; then
    mkdir -p "$CACHE" || return 1
    rm -rf "$ESDK_VENV"
    if ! python3 -m venv "$ESDK_VENV" >&2; then
      apt_install python3-venv || return 1
      rm -rf "$ESDK_VENV"
      python3 -m venv "$ESDK_VENV" >&2 || return 1
    fi
  fi
  if [ ! -x "$ESDK_CLI" ]; then
    log "bench: pip install aws-encryption-sdk-cli into $ESDK_VENV"
    "$ESDK_VENV/bin/pip" install -q aws-encryption-sdk-cli >&2 || return 1
  fi
  # pip builds a local directory in place; build from a copy so bench/ stays clean
  tmp=$(mktemp -d) || return 1
  cp -r "$PLUGIN_SRC/." "$tmp/" || return 1
  log "bench: pip install the coffer-raw-aes provider plugin"
  "$ESDK_VENV/bin/pip" install -q --force-reinstall --no-deps "$tmp" >&2 || { rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
  "$ESDK_CLI" --version >/dev/null 2>&1 || return 1
  printf '%s\n' "$want" >"$stamp"
}
if skipped esdk-cli; then
  UNAVAILABLE[esdk-cli]="skipped (BENCH_SKIP)"
elif ! setup_esdk_cli; then
  peer_unavailable esdk-cli "could not install aws-encryption-sdk-cli + plugin into $ESDK_VENV"
fi

# ---------------------------------------------------------------------------------------
# coffer itself
# ---------------------------------------------------------------------------------------
COFFER_GIVEN=${COFFER:-}
if [ -n "$COFFER_GIVEN" ]; then
  [ -x "$COFFER" ] || die "COFFER=$COFFER is not an executable"
else
  log "bench: cargo build --release --locked -p coffer-cli"
  (cd "$ROOT" && cargo build --release --locked -p coffer-cli >&2) || die "cargo build failed"
  COFFER=${CARGO_TARGET_DIR:-$ROOT/target}/release/coffer
  [ -x "$COFFER" ] || die "no binary at $COFFER after the build"
fi

# ---------------------------------------------------------------------------------------
# Work dir on tmpfs, inputs, keys
# ---------------------------------------------------------------------------------------
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  WORK=$(mktemp -d /dev/shm/coffer-bench.XXXXXX)
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-bench.XXXXXX")
fi
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# inputs + one ciphertext and one plaintext copy of the big file at a time, with some slack
need_mb=$((3 * BIG_MB + 3 * MID_MB + 6 * FILES * 5 / 1024 + 64))
avail_mb=$(df -Pm "$WORK" | awk 'NR == 2 {print $4}')
if [ "$avail_mb" -lt "$need_mb" ]; then
  die "$WORK has $avail_mb MiB free; this run needs about $need_mb MiB (lower BENCH_BIG_MB)"
fi

IN=$WORK/in
OUT=$WORK/out
KEYS=$WORK/keys
TIMEF=$WORK/time.out
ERRLOG=$WORK/stderr.log
mkdir -p "$IN" "$OUT" "$KEYS"
: >"$ERRLOG"

log "bench: making inputs in $WORK"
MID=$IN/mid.bin
BIG=$IN/big.bin
ONE_K=$IN/one-1k.bin
head -c $((MID_MB * 1048576)) /dev/urandom >"$MID"
head -c $((BIG_MB * 1048576)) /dev/urandom >"$BIG"
head -c 1024 /dev/urandom >"$ONE_K"
make_tree() { # DIR FILE_BYTES
  local dir=$1 size=$2 digits=${#FILES}
  [ "$digits" -ge 4 ] || digits=4
  mkdir -p "$dir"
  head -c $((FILES * size)) /dev/urandom >"$WORK/tree.blob"
  split -b "$size" -a "$digits" -d "$WORK/tree.blob" "$dir/f"
  rm -f "$WORK/tree.blob"
}
TREE4K=$IN/tree-4k
TREE1K=$IN/tree-1k
make_tree "$TREE4K" 4096
make_tree "$TREE1K" 1024

# raw AES-256 key for coffer (and, through the plugin, for aws-encryption-cli)
AES_KEY=$KEYS/coffer-bench.key
(umask 077 && head -c 32 /dev/urandom >"$AES_KEY")
chmod 600 "$AES_KEY"
KEYREF=aes:$AES_KEY
ESDK_KEYS=(--wrapping-keys provider=coffer-raw-aes "key=${AES_KEY##*/}" "path=$AES_KEY")
ESDK_COMMON=(-S -q --commitment-policy require-encrypt-require-decrypt)

if have age; then
  AGE_KEY=$KEYS/age.key
  age-keygen -o "$AGE_KEY" 2>/dev/null
  AGE_RECIPIENT=$(age-keygen -y "$AGE_KEY")
fi

# smoke test of the CLI + plugin before timing anything with it
if have esdk-cli; then
  if ! { "$ESDK_CLI" -e -i "$ONE_K" -o "$OUT/smoke.enc" "${ESDK_KEYS[@]}" "${ESDK_COMMON[@]}" &&
    "$ESDK_CLI" -d -i "$OUT/smoke.enc" -o "$OUT/smoke.dec" "${ESDK_KEYS[@]}" "${ESDK_COMMON[@]}" &&
    cmp -s "$ONE_K" "$OUT/smoke.dec"; } 2>>"$ERRLOG"; then
    peer_unavailable esdk-cli "round trip of a 1 KiB file failed: $(tail -n 3 "$ERRLOG" | tr '\n' ' ')"
  fi
  rm -f "$OUT/smoke.enc" "$OUT/smoke.dec"
fi

# ---------------------------------------------------------------------------------------
# Measuring. Every command runs directly under GNU time (no extra shell where none is
# needed); the wall clock is bash's EPOCHREALTIME around it, in microseconds, so the 1 KiB
# rows resolve well below GNU time's 10 ms. One warm-up run, then the median of N.
# ---------------------------------------------------------------------------------------
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

FAILURES=0
M_WALL=
M_RSS=
# measure RUNS STDOUT PREP CMD... : PREP is eval'd (untimed) before every run.
# Sets M_WALL (median s) and M_RSS (median peak RSS, MiB); returns 1 when a run fails.
measure() {
  local runs=$1 out=$2 prep=$3 k t0 t1 rc
  shift 3
  local walls=() peaks=()
  M_WALL=
  M_RSS=
  for ((k = 0; k <= runs; k++)); do
    eval "$prep"
    rc=0
    t0=${EPOCHREALTIME/./}
    /usr/bin/time -f '%M' -o "$TIMEF" "$@" >"$out" 2>>"$ERRLOG" || rc=$?
    t1=${EPOCHREALTIME/./}
    if [ "$rc" -ne 0 ]; then
      log "bench:   FAILED (exit $rc): $*"
      tail -n 5 "$ERRLOG" | sed 's/^/bench:     /' >&2
      return 1
    fi
    if [ "$k" -gt 0 ]; then
      walls+=("$((t1 - t0))")
      peaks+=("$(tail -n 1 "$TIMEF")")
    fi
  done
  M_WALL=$(printf '%s\n' "${walls[@]}" | median | awk '{printf "%.6f", $1 / 1e6}')
  M_RSS=$(printf '%s\n' "${peaks[@]}" | median | awk '{printf "%.1f", $1 / 1024}')
}
rm_prep() { printf 'rm -rf -- %q' "$1"; }
fresh_dir_prep() { printf 'rm -rf -- %q && mkdir -p -- %q' "$1" "$1"; }

# Reference walls, by "workload/name"
declare -A REF=()
ROWS=()
GOALS_TOTAL=0
GOALS_MET=0

# row WORKLOAD TOOL OP BYTES MODE REF_NAME GOAL
#   uses M_WALL/M_RSS (empty M_WALL: the run failed). MODE tput: MB/s and a throughput
#   ratio ref_wall/wall (higher is better; GOAL is a minimum ratio). MODE lat: ms and the
#   difference to the reference in ms (GOAL is a maximum difference). Rows of coffer
#   also carry the peak RSS goal.
row() {
  local wl=$1 tool=$2 op=$3 bytes=$4 mode=$5 refname=$6 goal=$7
  local med mbs vs goaltxt met="" ref_wall="" ok=1 rss=${M_RSS:-}
  [ -n "$refname" ] && ref_wall=${REF[$wl/$refname]:-}
  if [ -z "$M_WALL" ]; then
    ROWS+=("$wl|$tool|$op|FAILED|-|-|$refname|-|-|-")
    return
  fi
  if [ "$mode" = lat ]; then
    med=$(awk -v w="$M_WALL" 'BEGIN {printf "%.2f ms", w * 1000}')
    mbs=-
    vs=-
    [ -n "$ref_wall" ] && vs=$(awk -v w="$M_WALL" -v r="$ref_wall" 'BEGIN {printf "%+.2f ms", (w - r) * 1000}')
    goaltxt=${goal:+"<= +$goal ms"}
    if [ -n "$goal" ]; then
      if [ -n "$ref_wall" ]; then
        awk -v w="$M_WALL" -v r="$ref_wall" -v g="$goal" 'BEGIN {exit !((w - r) * 1000 <= g)}' || ok=0
      else
        ok=0
      fi
    fi
  else
    med=$(awk -v w="$M_WALL" 'BEGIN {printf "%.3f s", w}')
    mbs=$(awk -v w="$M_WALL" -v b="$bytes" 'BEGIN {v = b / 1e6 / w; printf (v < 10 ? "%.2f" : v < 100 ? "%.1f" : "%.0f"), v}')
    vs=-
    [ -n "$ref_wall" ] && vs=$(awk -v w="$M_WALL" -v r="$ref_wall" 'BEGIN {printf "%.2fx", r / w}')
    goaltxt=${goal:+">= ${goal}x"}
    if [ -n "$goal" ]; then
      if [ -n "$ref_wall" ]; then
        awk -v w="$M_WALL" -v r="$ref_wall" -v g="$goal" 'BEGIN {exit !(r / w >= g)}' || ok=0
      else
        ok=0
      fi
    fi
  fi
  if [[ $tool == coffer* ]]; then
    goaltxt="${goaltxt:+$goaltxt, }RSS < $RSS_GOAL_MIB"
    awk -v m="$rss" -v g="$RSS_GOAL_MIB" 'BEGIN {exit !(m < g)}' || ok=0
  fi
  if [ -n "$goaltxt" ]; then
    GOALS_TOTAL=$((GOALS_TOTAL + 1))
    if [ "$ok" = 1 ]; then
      met=yes
      GOALS_MET=$((GOALS_MET + 1))
    else
      met=NO
    fi
  fi
  ROWS+=("$wl|$tool|$op|$med|$mbs|$vs|${refname:--}|${goaltxt:--}|${met:--}|$rss")
}
na_row() { ROWS+=("$1|$2|$3|n/a|-|-|-|-|-|-"); }
fail() { # a coffer/age result that is wrong, not merely slow
  FAILURES=$((FAILURES + 1))
  ROWS+=("$1|$2|$3|MISMATCH|-|-|-|-|NO|-")
  log "bench: ERROR: $1 $2 $3: decrypted output differs from the input"
}
# measure, record the reference wall if NAME is given, and write the row
timed_row() { # WORKLOAD TOOL OP BYTES MODE REF GOAL RUNS STDOUT PREP CMD...
  local wl=$1 tool=$2 op=$3 bytes=$4 mode=$5 refname=$6 goal=$7 runs=$8 out=$9 prep=${10}
  shift 10
  log "bench: $wl | $tool | $op"
  if ! measure "$runs" "$out" "$prep" "$@"; then
    M_WALL=
    if [[ $tool == coffer* || $tool == age* || $tool == cat || $tool == "cp -r" ]]; then
      FAILURES=$((FAILURES + 1))
    elif [ "$STRICT" = 1 ]; then
      die "$tool $op failed and BENCH_STRICT=1"
    fi
  fi
  row "$wl" "$tool" "$op" "$bytes" "$mode" "$refname" "$goal"
}
set_ref() { if [ -n "$M_WALL" ]; then REF[$1/$2]=$M_WALL; fi; }

# ---------------------------------------------------------------------------------------
# Workloads
# ---------------------------------------------------------------------------------------
# One file, file to file. GOAL_0478 applies to the 0x0478 rows (vs cat) when given; the
# 0x0578 rows always carry the >= 0.8x openssl dgst -sha384 goal.
file_workload() { # LABEL INPUT GOAL_0478
  local wl=$1 in=$2 goal0478=$3 bytes enc=$OUT/f.enc dec=$OUT/f.dec suite
  bytes=$(stat -c %s "$in")
  cat "$in" >/dev/null # page cache (it is tmpfs anyway)

  timed_row "$wl" cat copy "$bytes" tput "" "" "$RUNS" "$dec" "$(rm_prep "$dec")" cat "$in"
  set_ref "$wl" cat
  rm -f "$dec"
  if have openssl; then
    timed_row "$wl" "openssl dgst -sha384" hash "$bytes" tput cat "" "$RUNS" /dev/null "" openssl dgst -sha384 "$in"
    set_ref "$wl" dgst
  else
    na_row "$wl" "openssl dgst -sha384" hash
  fi

  for suite in 0478 0578; do
    local tool="coffer $suite" ref=cat goal=$goal0478
    if [ "$suite" = 0578 ]; then ref=dgst goal=0.8; fi
    if [ "$ref" = dgst ] && [ -z "${REF[$wl/dgst]:-}" ]; then ref=cat goal=""; fi
    timed_row "$wl" "$tool" encrypt "$bytes" tput "$ref" "$goal" "$RUNS" /dev/null "$(rm_prep "$enc")" \
      "$COFFER" encrypt -q --key "$KEYREF" --suite "$suite" --frame-size "$FRAME" -i "$in" -o "$enc" --force
    if [ -n "$M_WALL" ]; then
      timed_row "$wl" "$tool" decrypt "$bytes" tput "$ref" "$goal" "$RUNS" /dev/null "$(rm_prep "$dec")" \
        "$COFFER" decrypt -q --key "$KEYREF" -i "$enc" -o "$dec" --force
      [ -z "$M_WALL" ] || cmp -s "$in" "$dec" || fail "$wl" "$tool" decrypt
    fi
    rm -f "$enc" "$dec"
  done

  if have age; then
    timed_row "$wl" age encrypt "$bytes" tput cat "" "$RUNS" /dev/null "$(rm_prep "$enc")" \
      age -r "$AGE_RECIPIENT" -o "$enc" "$in"
    if [ -n "$M_WALL" ]; then
      timed_row "$wl" age decrypt "$bytes" tput cat "" "$RUNS" /dev/null "$(rm_prep "$dec")" \
        age -d -i "$AGE_KEY" -o "$dec" "$enc"
      [ -z "$M_WALL" ] || cmp -s "$in" "$dec" || fail "$wl" age decrypt
    fi
    rm -f "$enc" "$dec"
  else
    na_row "$wl" age encrypt
    na_row "$wl" age decrypt
  fi

  if have esdk-cli; then
    local eref="dgst"
    [ -n "${REF[$wl/dgst]:-}" ] || eref="cat"
    timed_row "$wl" "esdk-cli 0578" encrypt "$bytes" tput "$eref" "" "$RUNS" /dev/null "$(rm_prep "$enc")" \
      "$ESDK_CLI" -e -i "$in" -o "$enc" "${ESDK_KEYS[@]}" --frame-length "$FRAME" "${ESDK_COMMON[@]}"
    if [ -n "$M_WALL" ]; then
      timed_row "$wl" "esdk-cli 0578" decrypt "$bytes" tput "$eref" "" "$RUNS" /dev/null "$(rm_prep "$dec")" \
        "$ESDK_CLI" -d -i "$enc" -o "$dec" "${ESDK_KEYS[@]}" "${ESDK_COMMON[@]}"
      if [ -n "$M_WALL" ] && ! cmp -s "$in" "$dec"; then
        [ "$STRICT" = 1 ] && die "esdk-cli round trip mismatch"
        ROWS+=("$wl|esdk-cli 0578|decrypt|MISMATCH|-|-|-|-|-|-")
      fi
      # interop: coffer decrypts the message the ESDK CLI wrote (same key, namespace, name)
      timed_row "$wl" "coffer (esdk-cli msg)" decrypt "$bytes" tput "$eref" "" "$RUNS" /dev/null "$(rm_prep "$dec")" \
        "$COFFER" decrypt -q --key "$KEYREF" -i "$enc" -o "$dec" --force
      [ -z "$M_WALL" ] || cmp -s "$in" "$dec" || fail "$wl" "coffer (esdk-cli msg)" decrypt
    fi
    rm -f "$enc" "$dec"
  else
    na_row "$wl" "esdk-cli 0578" encrypt
    na_row "$wl" "esdk-cli 0578" decrypt
  fi
}

# A directory tree: cp -r as the reference, coffer -r, age once per file, aws-encryption-cli -r.
tree_workload() { # LABEL SRC GOAL (minimum ratio vs cp -r for the coffer rows, or "")
  local wl=$1 src=$2 goal=$3 bytes enc=$OUT/t.enc dec=$OUT/t.dec suite
  bytes=$(find "$src" -type f -printf '%s\n' | awk '{s += $1} END {print s}')

  timed_row "$wl" "cp -r" copy "$bytes" tput "" "" "$RUNS" /dev/null "$(rm_prep "$dec")" cp -r "$src" "$dec"
  set_ref "$wl" "cp -r"
  rm -rf "$dec"

  for suite in 0478 0578; do
    local tool="coffer $suite -r"
    timed_row "$wl" "$tool" encrypt "$bytes" tput "cp -r" "$goal" "$RUNS" /dev/null "$(rm_prep "$enc")" \
      "$COFFER" encrypt -q -r --key "$KEYREF" --suite "$suite" --frame-size "$FRAME" -i "$src" -o "$enc"
    if [ -n "$M_WALL" ]; then
      timed_row "$wl" "$tool" decrypt "$bytes" tput "cp -r" "$goal" "$RUNS" /dev/null "$(rm_prep "$dec")" \
        "$COFFER" decrypt -q -r --key "$KEYREF" -i "$enc" -o "$dec"
      [ -z "$M_WALL" ] || diff -r -q "$src" "$dec" >/dev/null || fail "$wl" "$tool" decrypt
    fi
    rm -rf "$enc" "$dec"
  done

  if have age; then
    # shellcheck disable=SC2016 # the loops are expanded by the inner bash
    timed_row "$wl" "age (per file)" encrypt "$bytes" tput "cp -r" "" "$RUNS" /dev/null "$(fresh_dir_prep "$enc")" \
      bash -c 'for f in "$1"/*; do age -r "$3" -o "$2/${f##*/}.age" "$f" || exit; done' _ "$src" "$enc" "$AGE_RECIPIENT"
    if [ -n "$M_WALL" ]; then
      # shellcheck disable=SC2016
      timed_row "$wl" "age (per file)" decrypt "$bytes" tput "cp -r" "" "$RUNS" /dev/null "$(fresh_dir_prep "$dec")" \
        bash -c 'for f in "$1"/*.age; do n=${f##*/}; age -d -i "$3" -o "$2/${n%.age}" "$f" || exit; done' _ "$enc" "$dec" "$AGE_KEY"
      [ -z "$M_WALL" ] || diff -r -q "$src" "$dec" >/dev/null || fail "$wl" "age (per file)" decrypt
    fi
    rm -rf "$enc" "$dec"
  else
    na_row "$wl" "age (per file)" encrypt
    na_row "$wl" "age (per file)" decrypt
  fi

  if have esdk-cli; then
    timed_row "$wl" "esdk-cli 0578 -r" encrypt "$bytes" tput "cp -r" "" "$RUNS" /dev/null "$(fresh_dir_prep "$enc")" \
      "$ESDK_CLI" -e -r -i "$src" -o "$enc" --suffix "${ESDK_KEYS[@]}" --frame-length "$FRAME" "${ESDK_COMMON[@]}"
    if [ -n "$M_WALL" ]; then
      timed_row "$wl" "esdk-cli 0578 -r" decrypt "$bytes" tput "cp -r" "" "$RUNS" /dev/null "$(fresh_dir_prep "$dec")" \
        "$ESDK_CLI" -d -r -i "$enc" -o "$dec" --suffix "${ESDK_KEYS[@]}" "${ESDK_COMMON[@]}"
      if [ -n "$M_WALL" ] && ! diff -r -q "$src" "$dec" >/dev/null; then
        [ "$STRICT" = 1 ] && die "esdk-cli -r round trip mismatch"
        ROWS+=("$wl|esdk-cli 0578 -r|decrypt|MISMATCH|-|-|-|-|-|-")
      fi
    fi
    rm -rf "$enc" "$dec"
  else
    na_row "$wl" "esdk-cli 0578 -r" encrypt
    na_row "$wl" "esdk-cli 0578 -r" decrypt
  fi
}

# One 1 KiB file per process: start-up cost, in ms, against cat.
latency_workload() { # LABEL INPUT
  local wl=$1 in=$2 enc=$OUT/l.enc dec=$OUT/l.dec suite
  timed_row "$wl" cat copy 1024 lat "" "" "$LAT_RUNS" "$dec" "$(rm_prep "$dec")" cat "$in"
  set_ref "$wl" cat
  rm -f "$dec"
  for suite in 0478 0578; do
    local tool="coffer $suite"
    timed_row "$wl" "$tool" encrypt 1024 lat cat 2 "$LAT_RUNS" /dev/null "$(rm_prep "$enc")" \
      "$COFFER" encrypt -q --key "$KEYREF" --suite "$suite" --frame-size "$FRAME" -i "$in" -o "$enc" --force
    if [ -n "$M_WALL" ]; then
      timed_row "$wl" "$tool" decrypt 1024 lat cat 2 "$LAT_RUNS" /dev/null "$(rm_prep "$dec")" \
        "$COFFER" decrypt -q --key "$KEYREF" -i "$enc" -o "$dec" --force
      [ -z "$M_WALL" ] || cmp -s "$in" "$dec" || fail "$wl" "$tool" decrypt
    fi
    rm -f "$enc" "$dec"
  done
  if have age; then
    timed_row "$wl" age encrypt 1024 lat cat "" "$LAT_RUNS" /dev/null "$(rm_prep "$enc")" \
      age -r "$AGE_RECIPIENT" -o "$enc" "$in"
    if [ -n "$M_WALL" ]; then
      timed_row "$wl" age decrypt 1024 lat cat "" "$LAT_RUNS" /dev/null "$(rm_prep "$dec")" \
        age -d -i "$AGE_KEY" -o "$dec" "$enc"
      [ -z "$M_WALL" ] || cmp -s "$in" "$dec" || fail "$wl" age decrypt
    fi
    rm -f "$enc" "$dec"
  else
    na_row "$wl" age encrypt
    na_row "$wl" age decrypt
  fi
  if have esdk-cli; then
    timed_row "$wl" "esdk-cli 0578" encrypt 1024 lat cat "" "$LAT_RUNS" /dev/null "$(rm_prep "$enc")" \
      "$ESDK_CLI" -e -i "$in" -o "$enc" "${ESDK_KEYS[@]}" --frame-length "$FRAME" "${ESDK_COMMON[@]}"
    if [ -n "$M_WALL" ]; then
      timed_row "$wl" "esdk-cli 0578" decrypt 1024 lat cat "" "$LAT_RUNS" /dev/null "$(rm_prep "$dec")" \
        "$ESDK_CLI" -d -i "$enc" -o "$dec" "${ESDK_KEYS[@]}" "${ESDK_COMMON[@]}"
    fi
    rm -f "$enc" "$dec"
  else
    na_row "$wl" "esdk-cli 0578" encrypt
    na_row "$wl" "esdk-cli 0578" decrypt
  fi
}

# openssl speed: the 16384-byte-block figure, in MB/s (openssl prints 1000s of bytes/s)
speed_row() { # TOOL-LABEL OP ARGS...
  local tool=$1 op=$2 kbs
  shift 2
  log "bench: limit | $tool | $op"
  if kbs=$(openssl speed -seconds "$SPEED_SECONDS" -bytes 16384 "$@" 2>/dev/null |
    awk '$2 ~ /^[0-9.]+k$/ {v = $2} END {if (v == "") exit 1; sub(/k$/, "", v); print v}'); then
    ROWS+=("limit|$tool|$op|-|$(awk -v k="$kbs" 'BEGIN {printf "%.0f", k / 1000}')|-|-|-|-|-")
  else
    ROWS+=("limit|$tool|$op|FAILED|-|-|-|-|-|-")
  fi
}

NPROC=$(nproc)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)
if awk -v l="${LOAD_START%% *}" 'BEGIN {exit !(l + 0 >= 0.5)}'; then
  log "bench: WARNING: load average is $LOAD_START; other work on this machine will skew the figures"
fi
MID_LABEL="$MID_MB MiB file"
BIG_LABEL="$BIG_MB MiB file"
T4_LABEL="${FILES}x4 KiB tree"
T1_LABEL="${FILES}x1 KiB tree"

if have openssl && ! skipped limits; then
  speed_row "openssl speed aes-256-gcm" "1 core" -evp aes-256-gcm
  speed_row "openssl speed aes-256-gcm" "-multi $NPROC" -evp aes-256-gcm -multi "$NPROC"
  speed_row "openssl speed sha384" "1 core" -evp sha384
fi
file_workload "$MID_LABEL" "$MID" ""
file_workload "$BIG_LABEL" "$BIG" 0.85
tree_workload "$T4_LABEL" "$TREE4K" ""
tree_workload "$T1_LABEL" "$TREE1K" 0.33
latency_workload "1 KiB file" "$ONE_K"

# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------
version_of() { "$@" 2>/dev/null | head -n 1 || true; }
cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null || true)
# shellcheck disable=SC1091
os=$(if . /etc/os-release 2>/dev/null; then printf '%s' "${PRETTY_NAME:-}"; fi)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null || true)" ]; then
  commit="$commit (working tree has uncommitted changes)"
fi
age_v=n/a
have age && age_v=$(version_of age --version)
openssl_v=n/a
have openssl && openssl_v=$(version_of openssl version)
esdk_v=n/a
have esdk-cli && esdk_v=$(version_of "$ESDK_CLI" --version)

echo "## coffer bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
if [ -n "$COFFER_GIVEN" ]; then
  echo "- coffer: $COFFER ($(version_of "$COFFER" --version)), given in \$COFFER; repository $ROOT at $commit"
else
  echo "- coffer: $COFFER ($(version_of "$COFFER" --version)), built from $ROOT at $commit"
fi
echo "- machine: $NPROC cores ($cpu), $mem RAM, ${os:-unknown OS}, kernel $(uname -sr)"
echo "- work dir: $(stat -f -c %T "$WORK") ($WORK); load average (1/5/15 min) at start $LOAD_START," \
  "at end $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"
echo "- peers: age $age_v; $openssl_v; $esdk_v"
echo "- runs: median of $RUNS after 1 warm-up ($LAT_RUNS for the 1 KiB file); frames $FRAME bytes;" \
  "MB/s = 10^6 bytes of plaintext per second; RSS = median peak RSS of the process tree"
echo "- ratio: reference wall / tool wall (throughput relative to the reference, higher is better);" \
  "1 KiB rows: difference to cat in ms"
for peer in "${!UNAVAILABLE[@]}"; do echo "- $peer: n/a, ${UNAVAILABLE[$peer]}"; done
echo
{
  echo "workload|tool|op|median|MB/s|ratio|ref|goal|met|peak RSS MiB"
  echo "---|---|---|--:|--:|--:|---|---|---|--:"
  printf '%s\n' "${ROWS[@]}"
} | awk -F'|' '
  { n = NR; for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } nf = NF }
  END {
    for (r = 1; r <= n; r++) {
      line = "|"
      for (i = 1; i <= nf; i++) {
        v = c[r, i]
        if (r == 2) {
          s = ""
          for (k = 0; k < w[i]; k++) s = s "-"
          if (v ~ /:$/) s = substr(s, 2) ":"
          v = s
        }
        right = (i == 4 || i == 5 || i == 6 || i == 10) && r != 2
        line = line " " (right ? sprintf("%" w[i] "s", v) : sprintf("%-" w[i] "s", v)) " |"
      }
      print line
    }
  }'
echo
echo "Goals: $GOALS_MET of $GOALS_TOTAL coffer rows meet theirs (0x0478 ${BIG_MB} MiB >= 0.85x cat;" \
  "0x0578 >= 0.8x openssl dgst -sha384; peak RSS < $RSS_GOAL_MIB MiB; 1 KiB within 2 ms of cat;" \
  "${FILES}x1 KiB -r within 3x the time of cp -r, i.e. ratio >= 0.33x)."
if [ "$FAILURES" -gt 0 ]; then
  echo
  echo "**$FAILURES failure(s)**: a coffer/age/cat command failed or a round trip did not match (see stderr)."
  exit 1
fi
