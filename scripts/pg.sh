# A throw-away PostgreSQL server for tests and benchmarks. Source it, then call pg_start:
#
#   . scripts/pg.sh && pg_start && trap pg_stop EXIT
#
# pg_start installs Debian's `postgresql` if it is missing (with CI=true a failure to get it
# is an error), makes a cluster in a temporary directory, starts it on 127.0.0.1 on a free
# port with password authentication, and exports:
#   COFFER_TEST_PG  postgres://coffer@127.0.0.1:PORT/coffer  (no password in the URL)
#   PGPASSWORD      the password of the role `coffer` (a superuser, so tests can create
#                   databases)
#   COFFER_TEST_PG_CA        the CA that signed the server's TLS certificate (127.0.0.1)
#   COFFER_TEST_PG_OTHER_CA  another CA, which did not
# pg_stop stops the server and removes the directory.

pg_bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    return 1
}

pg_start() {
    local bin
    if ! bin=$(pg_bindir); then
        echo "PostgreSQL is not installed: installing Debian's postgresql" >&2
        if command -v apt-get >/dev/null; then
            local sudo=""
            [ "$(id -u)" -ne 0 ] && sudo="sudo"
            $sudo apt-get update -qq >/dev/null && \
                DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
        fi
        bin=$(pg_bindir) || { echo "error: cannot install PostgreSQL" >&2; return 1; }
    fi
    PG_DIR=$(mktemp -d /tmp/coffer-pg.XXXXXX)
    chmod 755 "$PG_DIR"
    # initdb and postgres refuse to run as root: run them as the package's `postgres` user.
    local run=()
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres "$PG_DIR"
        run=(runuser -u postgres --)
    fi
    PGPASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    export PGPASSWORD
    local pwfile="$PG_DIR/pw"
    printf '%s\n' "$PGPASSWORD" > "$pwfile"
    [ "$(id -u)" -eq 0 ] && chown postgres "$pwfile"
    "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -U coffer --pwfile="$pwfile" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 \
        >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    rm -f "$pwfile"
    # TLS: a test CA, and a certificate for 127.0.0.1 and localhost signed by it.
    command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
    local ca_ext=(-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign")
    (
        cd "$PG_DIR"
        for ca in ca other-ca; do
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
                -subj "/CN=coffer test $ca" "${ca_ext[@]}" -keyout "$ca.key" -out "$ca.pem" 2>/dev/null
        done
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
            -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem 2>/dev/null
        chmod 600 server.key
        [ "$(id -u)" -eq 0 ] && chown postgres server.key server.pem
        rm -f ca.key other-ca.key server.csr server.ext
    ) || { echo "error: cannot make the test certificates" >&2; return 1; }
    export COFFER_TEST_PG_CA=$PG_DIR/ca.pem COFFER_TEST_PG_OTHER_CA=$PG_DIR/other-ca.pem
    PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=on -c max_connections=200 -c ssl=on -c ssl_cert_file=$PG_DIR/server.pem -c ssl_key_file=$PG_DIR/server.key" \
        start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
    PG_RUN=("${run[@]}")
    PG_BIN=$bin
    "$bin/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U coffer -d postgres -c 'CREATE DATABASE coffer' >/dev/null
    export COFFER_TEST_PG="postgres://coffer@127.0.0.1:$PG_PORT/coffer"
    # psql and friends of that server, for tests that run them (the rotation example).
    export COFFER_TEST_PG_BIN=$bin
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT ($PG_DIR)"
}

pg_stop() {
    [ -n "${PG_DIR:-}" ] || return 0
    "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR=""
}
