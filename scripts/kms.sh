# A throw-away AWS KMS endpoint (moto) for tests. Source it, then call kms_start:
#
#   . scripts/kms.sh && kms_start && trap kms_stop EXIT
#
# kms_start installs moto[server] and boto3 with pip if they are missing, starts the server on
# a free 127.0.0.1 port and exports the standard AWS variables that point every SDK at it
# (dummy credentials), plus COFFER_TEST_KMS_ENDPOINT for the tests. kms_stop stops it.

kms_start() {
    if ! python3 -c 'import moto.server, boto3' 2>/dev/null; then
        python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6' boto3 \
            || { echo "error: cannot install moto" >&2; return 1; }
    fi
    KMS_DIR=$(mktemp -d /tmp/coffer-kms.XXXXXX)
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    setsid python3 -m moto.server -H 127.0.0.1 -p "$port" >"$KMS_DIR/moto.log" 2>&1 </dev/null &
    KMS_PID=$!
    local url="http://127.0.0.1:$port" i
    for i in $(seq 1 150); do
        if python3 -c "import urllib.request; urllib.request.urlopen('$url/moto-api/', timeout=1)" 2>/dev/null; then
            break
        fi
        if ! kill -0 "$KMS_PID" 2>/dev/null; then
            cat "$KMS_DIR/moto.log" >&2
            return 1
        fi
        sleep 0.1
    done
    export AWS_ENDPOINT_URL=$url COFFER_TEST_KMS_ENDPOINT=$url
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
    unset AWS_PROFILE AWS_SESSION_TOKEN
    echo "moto $(python3 -c 'import moto; print(moto.__version__)') (AWS KMS) on $url"
}

kms_stop() {
    [ -n "${KMS_PID:-}" ] || return 0
    kill "$KMS_PID" 2>/dev/null || true
    wait "$KMS_PID" 2>/dev/null || true
    rm -rf "$KMS_DIR"
    KMS_PID=""
}
