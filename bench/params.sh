#!/usr/bin/env bash
# bench/params.sh: the parameter store as users call it, one whole `coffer` process per call,
# on the embedded SQLite store (tmpfs) and on PostgreSQL (a throw-away local server from
# scripts/pg.sh, data on the same file system). Prints one markdown table.
#
#   bench/params.sh                      # 10,000 parameters under one path
#   BENCH_PARAMS=2000 bench/params.sh    # a quicker run
#
# Rows: `put` throughput (secure-string values, sequential processes); `get` of one secure
# value among 10,000 (goal: under 10 ms); `exec --path` of 100 values (goal: under 30 ms);
# `ls -r` of 10,000; `true` and `cat` of a small file as the floor of a process start.
# On PostgreSQL, `psql -c 'SELECT 1'` (one connection, one query) is the floor of a process
# that talks to the server.
# Knobs: COFFER (a binary instead of building one), BENCH_PARAMS (10000), BENCH_RUNS (30),
# BENCH_PG=0 (SQLite only).
set -euo pipefail
cd "$(dirname "$0")/.."

n=${BENCH_PARAMS:-10000}
runs=${BENCH_RUNS:-30}
log() { printf '%s\n' "$*" >&2; }

if [[ -n ${COFFER:-} ]]; then
    coffer=$COFFER
else
    log "bench: cargo build --release --locked -p coffer-cli"
    cargo build --release --locked -q -p coffer-cli
    coffer=$PWD/target/release/coffer
fi

base=/dev/shm
[[ -d $base && -w $base ]] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/coffer-params-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export COFFER_HOME=$work/home
"$coffer" init -q >/dev/null

# Milliseconds since the epoch, with microseconds.
now_ms() { printf '%s' "${EPOCHREALTIME/./}" | awk '{printf "%.3f", $1 / 1000}'; }
median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# time_runs N CMD...: median wall time of N runs of CMD, in ms.
time_runs() {
    local n=$1 i t0 t1
    shift
    for ((i = 0; i < n; i++)); do
        t0=$(now_ms)
        "$@" >/dev/null
        t1=$(now_ms)
        awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
    done | median
}

# measure SUFFIX: fills put_ms_SUFFIX, get_ms_SUFFIX, … on the store COFFER_STORE names.
measure() {
    local sfx=$1 t0 t1 i
    log "bench ($sfx): putting $n secure values under /bench/many and 100 under /bench/app"
    t0=$(now_ms)
    for ((i = 0; i < n; i++)); do
        printf 'value-%d\n' "$i" | "$coffer" put "$(printf '/bench/many/p%05d' "$i")" -q >/dev/null
    done
    t1=$(now_ms)
    printf -v "put_ms_$sfx" '%s' "$(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / n}')"
    local put_ms_var="put_ms_$sfx"
    printf -v "put_rate_$sfx" '%s' "$(awk -v ms="${!put_ms_var}" 'BEGIN {printf "%.0f", 1000 / ms}')"
    for ((i = 0; i < 100; i++)); do
        printf 'secret-%d\n' "$i" | "$coffer" put "$(printf '/bench/app/v%03d' "$i")" -q >/dev/null
    done
    log "bench ($sfx): timing"
    printf -v "get_ms_$sfx" '%s' "$(time_runs "$runs" "$coffer" get "$(printf '/bench/many/p%05d' $((n * 42 / 100)))")"
    printf -v "get_json_ms_$sfx" '%s' "$(time_runs "$runs" "$coffer" get --output json /bench/many/p00001)"
    printf -v "exec_ms_$sfx" '%s' "$(time_runs "$runs" "$coffer" exec --path /bench/app -- true)"
    printf -v "export_ms_$sfx" '%s' "$(time_runs "$runs" "$coffer" export --path /bench/app)"
    printf -v "ls_ms_$sfx" '%s' "$(time_runs 5 "$coffer" ls -r /bench)"
}

printf 'x\n' > "$work/small"
true_ms=$(time_runs "$runs" true)
cat_ms=$(time_runs "$runs" cat "$work/small")
unset COFFER_STORE
measure sqlite

na="-"
for v in put_ms put_rate get_ms get_json_ms exec_ms export_ms ls_ms; do printf -v "${v}_pg" '%s' "$na"; done
psql_ms="-"
pg_version="not run (BENCH_PG=0)"
if [[ ${BENCH_PG:-1} != 0 ]]; then
    . scripts/pg.sh
    pg_start >&2
    trap 'pg_stop; rm -rf "$work"' EXIT
    export COFFER_STORE=$COFFER_TEST_PG
    pg_version="PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1, TCP, SCRAM"
    psql_ms=$(time_runs "$runs" "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U coffer -d coffer -Atc 'SELECT 1')
    measure pg
    unset COFFER_STORE
fi

verdict() { awk -v v="$1" -v g="$2" 'BEGIN {print (v < g) ? "yes" : "NO"}'; }

cat <<EOF
## coffer parameter store bench, $(date -u '+%Y-%m-%d %H:%M UTC')

- coffer: $("$coffer" --version 2>/dev/null || echo "$coffer"), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')
- machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), store on $(stat -f -c %T "$work")
- PostgreSQL: ${pg_version}
- $n secure-string parameters under /bench/many, 100 under /bench/app; median of $runs runs (5 for ls -r)

| what | SQLite | PostgreSQL | goal (SQLite) | met |
| --- | ---: | ---: | --- | --- |
| \`true\` (process floor) | ${true_ms} ms | | - | - |
| \`cat\` of a small file | ${cat_ms} ms | | - | - |
| \`psql -c 'SELECT 1'\` (server floor) | | ${psql_ms} ms | - | - |
| \`coffer put\` (secure, one process each) | ${put_ms_sqlite} ms = ${put_rate_sqlite}/s | ${put_ms_pg} ms = ${put_rate_pg}/s | - | - |
| \`coffer get\` one secure value of $n | ${get_ms_sqlite} ms | ${get_ms_pg} ms | < 10 ms | $(verdict "$get_ms_sqlite" 10) |
| \`coffer get --output json\` | ${get_json_ms_sqlite} ms | ${get_json_ms_pg} ms | - | - |
| \`coffer exec --path\` 100 values \`-- true\` | ${exec_ms_sqlite} ms | ${exec_ms_pg} ms | < 30 ms | $(verdict "$exec_ms_sqlite" 30) |
| \`coffer export --path\` 100 values | ${export_ms_sqlite} ms | ${export_ms_pg} ms | - | - |
| \`coffer ls -r\` of $((n + 100)) | ${ls_ms_sqlite} ms | ${ls_ms_pg} ms | - | - |
EOF
