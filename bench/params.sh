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
#
# Before and after a change: BENCH_BEFORE=/path/to/old/coffer bench/params.sh fills one store
# per binary (each binary writes its own, so a store upgrade does not stand in the way), then
# runs `get` and `exec` alternately, before then after, BENCH_RUNS times, and prints the
# median, min and max of the per-pair ratios after/before next to the limit (1.10), plus the
# put and `ls -r` figures of each. The machine is shared and noisy: the verdict uses the
# per-pair ratio.
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

# compare_store SUFFIX: fills each binary's own store of kind SUFFIX (sqlite: each home's
# file; pg: the databases in store_before / store_after), then runs get and exec in pairs.
compare_store() {
    local sfx=$1 which bin i t0 t1 key var
    for which in before after; do
        bin=$coffer
        [[ $which == before ]] && bin=$BENCH_BEFORE
        export COFFER_HOME=$work/home-$which-$sfx
        if [[ $sfx == pg ]]; then
            var="store_$which"
            export COFFER_STORE=${!var}
        else
            unset COFFER_STORE
        fi
        "$bin" init -q >/dev/null
        log "bench ($sfx, $which): putting $n secure values under /bench/many and 100 under /bench/app"
        t0=$(now_ms)
        for ((i = 0; i < n; i++)); do
            printf 'value-%d\n' "$i" | "$bin" put "$(printf '/bench/many/p%05d' "$i")" -q >/dev/null
        done
        t1=$(now_ms)
        printf -v "cmp_put_${which}_$sfx" '%s' "$(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / n}')"
        for ((i = 0; i < 100; i++)); do
            printf 'secret-%d\n' "$i" | "$bin" put "$(printf '/bench/app/v%03d' "$i")" -q >/dev/null
        done
        printf -v "cmp_ls_${which}_$sfx" '%s' "$(time_runs 5 "$bin" ls -r /bench)"
    done
    unset COFFER_STORE
    key=$(printf '/bench/many/p%05d' $((n * 42 / 100)))
    log "bench ($sfx): get and exec, before and after alternately, $runs pairs"
    pair_runs "$sfx" get get "$key"
    pair_runs "$sfx" exec exec --path /bench/app -- true
}

# one_run WHICH SUFFIX ARGS...: the wall time of one run of the WHICH binary on its store, ms.
one_run() {
    local which=$1 sfx=$2 bin=$coffer t0 t1 store=
    shift 2
    [[ $which == before ]] && bin=$BENCH_BEFORE
    if [[ $sfx == pg ]]; then
        local var="store_$which"
        store=${!var}
    fi
    t0=$(now_ms)
    if [[ -n $store ]]; then
        COFFER_HOME=$work/home-$which-$sfx COFFER_STORE=$store "$bin" "$@" >/dev/null
    else
        env -u COFFER_STORE COFFER_HOME="$work/home-$which-$sfx" "$bin" "$@" >/dev/null
    fi
    t1=$(now_ms)
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}

# pair_runs SUFFIX NAME ARGS...: before then after, BENCH_RUNS times; fills
# cmp_NAME_{before,after,ratio,min,max}_SUFFIX (medians of the times; ratios after/before).
pair_runs() {
    local sfx=$1 name=$2 i ta tb
    shift 2
    local ratios=() as=() bs=()
    for ((i = 0; i < runs; i++)); do
        ta=$(one_run before "$sfx" "$@")
        tb=$(one_run after "$sfx" "$@")
        as+=("$ta")
        bs+=("$tb")
        ratios+=("$(awk -v a="$ta" -v b="$tb" 'BEGIN {printf "%.4f", b / a}')")
    done
    printf -v "cmp_${name}_before_$sfx" '%s' "$(printf '%s\n' "${as[@]}" | median)"
    printf -v "cmp_${name}_after_$sfx" '%s' "$(printf '%s\n' "${bs[@]}" | median)"
    printf -v "cmp_${name}_ratio_$sfx" '%s' "$(printf '%s\n' "${ratios[@]}" | median)"
    printf -v "cmp_${name}_min_$sfx" '%s' "$(printf '%s\n' "${ratios[@]}" | sort -n | head -1)"
    printf -v "cmp_${name}_max_$sfx" '%s' "$(printf '%s\n' "${ratios[@]}" | sort -n | tail -1)"
}

if [[ -n ${BENCH_BEFORE:-} ]]; then
    kinds=(sqlite)
    compare_store sqlite
    if [[ ${BENCH_PG:-1} != 0 ]]; then
        . scripts/pg.sh
        pg_start >&2
        trap 'pg_stop; rm -rf "$work"' EXIT
        for db in bench_before bench_after; do
            "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U coffer -d coffer -qc "CREATE DATABASE $db" >&2
        done
        store_before=${COFFER_TEST_PG%/*}/bench_before
        store_after=${COFFER_TEST_PG%/*}/bench_after
        compare_store pg
        kinds+=(pg)
    fi
    ratio_ok() { awk -v r="$1" 'BEGIN {print (r <= 1.10) ? "yes" : "NO"}'; }
    of() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b / a}'; }
    cat <<END
## coffer parameter store, before and after, $(date -u '+%Y-%m-%d %H:%M UTC')

- before: $BENCH_BEFORE; after: $coffer, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')
- machine: $(nproc) cores, stores on $(stat -f -c %T "$work"); $n secure-string parameters under /bench/many, 100 under /bench/app
- get and exec: $runs pairs, before then after; the ratio is after/before per pair: median (min-max). put: the mean of $n sequential processes; ls -r: median of 5

| store | what | before | after | after/before | limit | met |
| --- | --- | ---: | ---: | --- | --- | --- |
END
    for k in "${kinds[@]}"; do
        label=SQLite
        [[ $k == pg ]] && label=PostgreSQL
        for w in get exec; do
            b="cmp_${w}_before_$k" a="cmp_${w}_after_$k" r="cmp_${w}_ratio_$k" lo="cmp_${w}_min_$k" hi="cmp_${w}_max_$k"
            what="\`coffer get\` one of $n"
            [[ $w == exec ]] && what="\`coffer exec --path\` 100 values"
            echo "| $label | $what | ${!b} ms | ${!a} ms | ${!r} (${!lo}-${!hi}) | 1.10 | $(ratio_ok "${!r}") |"
        done
        b="cmp_put_before_$k" a="cmp_put_after_$k"
        echo "| $label | \`coffer put\` (secure, one process each) | ${!b} ms | ${!a} ms | $(of "${!b}" "${!a}") (means) | - | - |"
        b="cmp_ls_before_$k" a="cmp_ls_after_$k"
        echo "| $label | \`coffer ls -r\` of $((n + 100)) | ${!b} ms | ${!a} ms | $(of "${!b}" "${!a}") (medians) | - | - |"
    done
    exit 0
fi

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
