# A throw-away SoftHSM2 token for tests. Source it, then call hsm_start:
#
#   . scripts/hsm.sh && hsm_start && trap hsm_stop EXIT
#
# hsm_start installs Debian's softhsm2 and opensc if they are missing, makes a token labelled
# `coffer-test` in a temporary directory (its own SOFTHSM2_CONF), with:
#   coffer-aes    AES-256, sensitive, non-extractable, encrypt/decrypt
#   coffer-rsa    RSA-2048 key pair, encrypt/decrypt
# and a second, empty token `coffer-keys` (same PIN) for tests that make keys: SoftHSM2's
# file store is not safe against one process writing a token while another reads it.
# Exports SOFTHSM2_CONF, COFFER_TEST_PKCS11_MODULE, COFFER_TEST_PKCS11_PIN_FILE (a file holding
# the user PIN), COFFER_TEST_PKCS11_TOKEN and COFFER_TEST_PKCS11_KEYS_TOKEN. hsm_stop removes
# the directory.

hsm_module() {
    local m
    for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
        /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
        [ -e "$m" ] && { echo "$m"; return 0; }
    done
    return 1
}

hsm_start() {
    local module
    if ! module=$(hsm_module) || ! command -v pkcs11-tool >/dev/null; then
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        $sudo apt-get update -qq >/dev/null &&
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq softhsm2 opensc >/dev/null
        module=$(hsm_module) || { echo "error: cannot install SoftHSM2" >&2; return 1; }
    fi
    HSM_DIR=$(mktemp -d /tmp/coffer-hsm.XXXXXX)
    mkdir -p "$HSM_DIR/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$HSM_DIR" > "$HSM_DIR/softhsm2.conf"
    export SOFTHSM2_CONF=$HSM_DIR/softhsm2.conf
    local pin so_pin
    pin=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    so_pin=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s' "$pin" > "$HSM_DIR/pin"
    chmod 600 "$HSM_DIR/pin"
    softhsm2-util --init-token --free --label coffer-test --pin "$pin" --so-pin "$so_pin" \
        > "$HSM_DIR/init.log" 2>&1 &&
    softhsm2-util --init-token --free --label coffer-keys --pin "$pin" --so-pin "$so_pin" \
        >> "$HSM_DIR/init.log" 2>&1 || { cat "$HSM_DIR/init.log" >&2; return 1; }
    local tool=(pkcs11-tool --module "$module" --token-label coffer-test --login --pin "$pin")
    "${tool[@]}" --keygen --key-type AES:32 --label coffer-aes --id 01 \
        --usage-decrypt --sensitive >> "$HSM_DIR/init.log" 2>&1 &&
    "${tool[@]}" --keypairgen --key-type rsa:2048 --label coffer-rsa --id 02 \
        --usage-decrypt >> "$HSM_DIR/init.log" 2>&1 ||
        { cat "$HSM_DIR/init.log" >&2; return 1; }
    export COFFER_TEST_PKCS11_MODULE=$module COFFER_TEST_PKCS11_PIN_FILE=$HSM_DIR/pin
    export COFFER_TEST_PKCS11_TOKEN=coffer-test COFFER_TEST_PKCS11_KEYS_TOKEN=coffer-keys
    echo "SoftHSM2 token coffer-test in $HSM_DIR"
}

hsm_stop() {
    [ -n "${HSM_DIR:-}" ] || return 0
    rm -rf "$HSM_DIR"
    HSM_DIR=""
}
