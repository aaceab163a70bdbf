#!/usr/bin/env bash
# The project's test command (README "Set up"): formatting, lints, unit and integration
# tests (the PostgreSQL store's against a throw-away server), the ESDK vector run, the
# Python ESDK decrypting our own matrix, and the fuzz build.
# Installs what it needs. With CI=true a missing component is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version
cargo fmt --version
cargo clippy --version

step "Python ESDK (reference implementation for interop), python-dotenv and PyYAML (export readers)"
if ! python3 -c 'import aws_encryption_sdk, aws_cryptographic_material_providers, dotenv, yaml' 2>/dev/null; then
    python3 -m pip install --quiet --disable-pip-version-check \
        'aws-encryption-sdk>=4,<5' 'aws-cryptographic-material-providers>=1.7,<2' \
        'python-dotenv>=1.1,<2' 'PyYAML>=6,<7'
fi
python3 -c 'import aws_encryption_sdk; print("aws-encryption-sdk", aws_encryption_sdk.__version__)'

step "PostgreSQL (a throw-away server for the store tests)"
. scripts/pg.sh
. scripts/kms.sh
. scripts/hsm.sh
cleanup() { pg_stop; kms_stop; hsm_stop; rm -rf "${matrix:-}"; }
trap cleanup EXIT
if ! pg_start; then
    if [ "${CI:-}" = "true" ]; then
        echo "error: cannot start PostgreSQL; CI must run the PostgreSQL store tests" >&2
        exit 1
    fi
    echo "skipped: no PostgreSQL (its tests skip outside CI)"
fi

step "AWS KMS (a throw-away moto endpoint for the KMS tests)"
if ! kms_start; then
    if [ "${CI:-}" = "true" ]; then
        echo "error: cannot start the moto KMS endpoint; CI must run the KMS tests" >&2
        exit 1
    fi
    echo "skipped: no KMS endpoint (its tests skip outside CI)"
fi

step "SoftHSM2 (a throw-away PKCS#11 token for the HSM tests)"
if ! hsm_start; then
    if [ "${CI:-}" = "true" ]; then
        echo "error: cannot make the SoftHSM2 token; CI must run the PKCS#11 tests" >&2
        exit 1
    fi
    echo "skipped: no SoftHSM2 token (its tests skip outside CI)"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The CLI and its tests build without PostgreSQL, KMS and PKCS#11 too; the library with
# either store alone.
cargo clippy -p coffer-cli --all-targets --no-default-features --locked -- -D warnings
cargo clippy -p coffer --all-targets --no-default-features --features sqlite --locked -- -D warnings
cargo clippy -p coffer --all-targets --no-default-features --features postgres --locked -- -D warnings

step "the library's dependencies (none of the command line's crates)"
# What a service compiles with `cargo add coffer`: no argument parser, terminal, signal or
# log-printing crate, and no anyhow, with every feature too.
for features in "--features sqlite" "--features postgres" "--features sqlite,postgres,kms,pkcs11"; do
    # shellcheck disable=SC2086 # $features is empty or one flag and its value
    tree=$(cargo tree --locked -p coffer -e normal --no-default-features $features --prefix none)
    echo "coffer $features: $(awk '{print $1, $2}' <<<"$tree" | sort -u | wc -l) crates"
    cli_crates=$(awk '{print $1}' <<<"$tree" | sort -u |
        grep -xE 'clap|clap_builder|clap_complete|clap_mangen|indicatif|rpassword|signal-hook|tracing-subscriber|anyhow|coffer-cli' || true)
    if [ -n "$cli_crates" ]; then
        echo "error: the coffer library depends on the command line's crates:" $cli_crates >&2
        exit 1
    fi
done

step "the library's documentation and package"
# Every public item is documented (#![deny(missing_docs)]) and every link resolves; the
# publishable crates package, and each package builds on its own, as `cargo publish` checks.
RUSTDOCFLAGS="-D warnings" cargo doc --locked -q -p coffer --no-deps
RUSTDOCFLAGS="-D warnings" cargo doc --locked -q -p coffer --no-deps --no-default-features --features postgres
RUSTDOCFLAGS="-D warnings" cargo doc --locked -q -p coffer --no-deps --features postgres,kms,pkcs11
# cargo unpacks each crate it verifies from its local registry into the cargo home, and
# reuses a copy of the same name and version unpacked by an earlier run (of an older
# commit): remove those, so that each package builds against what was packaged now.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rm -rf "$cargo_home"/registry/src/-*/coffer-[0-9]* \
    "$cargo_home"/registry/src/-*/coffer-{core,cache,cli}-[0-9]*
cargo package --locked -q -p coffer-core -p coffer-cache -p coffer -p coffer-cli

step "cargo test"
# test-pause: the kill tests stop coffer at each step of a write.
cargo test --workspace --locked --features coffer-cli/test-pause

step "the library's unit tests in each single-store build"
# cargo test --workspace builds coffer with every feature the CLI turns on; a service may
# build it with SQLite or PostgreSQL alone.
cargo test --locked -q -p coffer --lib
cargo test --locked -q -p coffer --lib --no-default-features --features postgres

step "ESDK decrypt vectors from other implementations"
vectors="$root/../shared/esdk/vectors"
if [ -d "$vectors" ]; then
    cargo run --release --locked -q -p coffer-test-vectors -- decrypt "$vectors"/*/
elif [ "${CI:-}" = "true" ]; then
    echo "error: $vectors is missing; CI must run the shared ESDK vectors" >&2
    exit 1
else
    echo "skipped: $vectors not found (CI requires it)"
fi

step "our encrypt matrix, decrypted by the Python ESDK"
matrix=$(mktemp -d)
cargo run --release --locked -q -p coffer-test-vectors -- encrypt --out "$matrix/coffer"
python3 test-vectors/scripts/python_decrypt.py "$matrix/coffer"

step "AWS KMS interop with the Python ESDK (through the local endpoint)"
if [ -n "${COFFER_TEST_KMS_ENDPOINT:-}" ]; then
    python3 test-vectors/scripts/kms_interop.py "$root/target/debug/coffer"
else
    echo "skipped: no KMS endpoint"
fi

step "hierarchical keyring against the AWS Material Providers Library"
# Fresh vectors: the MPL must agree with the KDF and unwrap our layout, and the Rust keyring
# must unwrap an EDK the MPL wrapped just now (random salt and IV).
python3 crypto-core/tests/data/hierarchy_kat.py > "$matrix/hierarchy_kat.txt"
if ! grep -q "cross-checked with aws-cryptographic-material-providers" "$matrix/hierarchy_kat.txt"; then
    echo "error: the AWS Material Providers Library did not take part in the check" >&2
    exit 1
fi
COFFER_HIERARCHY_KAT="$matrix/hierarchy_kat.txt" cargo test --locked -q -p coffer-core --lib hierarchy

step "the service example (examples/service.rs) on an SQLite and a PostgreSQL store"
cargo build --locked -q -p coffer-cli --bin coffer
cargo build --locked -q -p coffer --features postgres --example service
coffer_bin="$root/target/debug/coffer"
service="$root/target/debug/examples/service"
# check_service OUTPUT: the example read the secure value (version 1, then 2 after a put)
# and took the missing optional parameter for what it is.
check_service() {
    for want in "/app/db-password: version 2 (6 bytes; cached read is the same value: true)" \
        "/app/feature-flags: not set, using the defaults" \
        "/app/db-password (version 2, secure-string)"; do
        if ! grep -qF "$want" <<<"$1"; then
            printf 'error: the service example did not print "%s":\n%s\n' "$want" "$1" >&2
            exit 1
        fi
    done
}
example_home="$matrix/example-home"
COFFER_HOME="$example_home" "$coffer_bin" init >/dev/null
printf 'first' | COFFER_HOME="$example_home" "$coffer_bin" put /app/db-password >/dev/null
printf 's3cret' | COFFER_HOME="$example_home" "$coffer_bin" put /app/db-password --overwrite >/dev/null
check_service "$(env -u COFFER_STORE "$service" "sqlite://$example_home/coffer.db" /app/db-password)"
if [ -n "${COFFER_TEST_PG:-}" ]; then
    PGOPTIONS="-c client_min_messages=warning" "$COFFER_TEST_PG_BIN/psql" -q "$COFFER_TEST_PG" \
        -c "DROP DATABASE IF EXISTS coffer_example" \
        -c "CREATE DATABASE coffer_example"
    example_pg="${COFFER_TEST_PG%/*}/coffer_example"
    export_pg_home="$matrix/example-pg-home"
    COFFER_HOME="$export_pg_home" COFFER_STORE="$example_pg" "$coffer_bin" init >/dev/null
    for v in first s3cret; do
        printf '%s' "$v" | COFFER_HOME="$export_pg_home" COFFER_STORE="$example_pg" \
            "$coffer_bin" put /app/db-password --overwrite >/dev/null
    done
    check_service "$(COFFER_HOME="$export_pg_home" "$service" "$example_pg" /app/db-password)"
elif [ "${CI:-}" = "true" ]; then
    echo "error: CI must run the service example on PostgreSQL" >&2
    exit 1
fi

step "the release binary (README gives its size: symbols kept, no debug info)"
cargo build --release --locked -q -p coffer-cli
bin="$root/target/release/coffer"
size=$(stat -c %s "$bin")
echo "$bin: $size bytes"
# README gives the size to 0.1 MB ("about 33 MB (33.2 MB)"): within 5% of that figure.
said=$(grep -o 'about [0-9]* MB ([0-9.]* MB)' README.md | grep -o '([0-9.]*' | tr -d '(')
said_bytes=$(awk -v mb="$said" 'BEGIN { printf "%d", mb * 1000000 }')
if [ -z "$said" ] || [ "$size" -lt $((said_bytes * 95 / 100)) ] || [ "$size" -gt $((said_bytes * 105 / 100)) ]; then
    echo "error: the release binary is $size bytes; README says ${said:-nothing} MB" >&2
    exit 1
fi
if ! command -v readelf >/dev/null && [ "${CI:-}" = "true" ]; then
    apt-get install -y -qq binutils >/dev/null
fi
if command -v readelf >/dev/null; then
    sections=$(readelf -SW "$bin")
    if ! grep -q ' \.symtab ' <<<"$sections" || grep -q ' \.debug_' <<<"$sections"; then
        echo "error: the release binary should keep its symbols and hold no debug info" >&2
        exit 1
    fi
fi

step "fuzz targets build"
bash fuzz/build.sh
