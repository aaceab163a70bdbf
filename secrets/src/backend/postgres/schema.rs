//! The PostgreSQL store's schema: the migrations that make it, one per version.

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: [&str; 9] = [
    r#"
CREATE TABLE keys (
    name                 TEXT COLLATE "C" PRIMARY KEY,
    spec                 TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('enabled', 'disabled')),
    rotation_period_secs BIGINT CHECK (rotation_period_secs > 0),
    min_decrypt_version  BIGINT NOT NULL DEFAULT 1 CHECK (min_decrypt_version >= 1),
    active_version       BIGINT NOT NULL CHECK (active_version >= 1)
);
CREATE TABLE key_versions (
    name       TEXT COLLATE "C" NOT NULL REFERENCES keys (name),
    version    BIGINT NOT NULL CHECK (version >= 1),
    uuid       BYTEA NOT NULL UNIQUE CHECK (length(uuid) = 16),
    created_at BIGINT NOT NULL,
    wrapped    BYTEA NOT NULL,
    root_id    TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE params (
    name       TEXT COLLATE "C" PRIMARY KEY,
    parent     TEXT COLLATE "C" NOT NULL,
    latest     BIGINT NOT NULL CHECK (latest >= 1),
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX params_by_parent ON params (parent, name);
CREATE TABLE param_versions (
    name         TEXT COLLATE "C" NOT NULL REFERENCES params (name) ON DELETE CASCADE,
    version      BIGINT NOT NULL CHECK (version >= 1),
    type         TEXT NOT NULL CHECK (type IN ('string', 'string-list', 'secure-string')),
    value        BYTEA,
    key_ref      TEXT,
    description  TEXT,
    tags         TEXT NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,
    author       TEXT NOT NULL,
    expires_at   BIGINT,
    destroyed_at BIGINT,
    PRIMARY KEY (name, version),
    CHECK ((value IS NULL) = (destroyed_at IS NOT NULL))
);
CREATE TABLE param_labels (
    name    TEXT COLLATE "C" NOT NULL,
    label   TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (name, label),
    FOREIGN KEY (name, version) REFERENCES param_versions (name, version) ON DELETE CASCADE
);
CREATE INDEX param_labels_by_version ON param_labels (name, version);
CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY CHECK (seq >= 1),
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    verb      TEXT NOT NULL,
    name      TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash      BYTEA NOT NULL
);
INSERT INTO meta (key, value) VALUES
    ('audit_count', '0'),
    ('audit_head', '0000000000000000000000000000000000000000000000000000000000000000');
"#,
    r#"
CREATE TABLE param_rotations (
    name              TEXT COLLATE "C" PRIMARY KEY REFERENCES params (name) ON DELETE CASCADE,
    every_secs        BIGINT CHECK (every_secs > 0),
    generate          TEXT,
    set_hook          TEXT,
    test_hook         TEXT,
    hook_timeout_secs BIGINT NOT NULL CHECK (hook_timeout_secs > 0),
    next_due          BIGINT,
    lease_holder      TEXT,
    lease_until       BIGINT,
    last_error        TEXT,
    seal              BYTEA
);
"#,
    r#"
ALTER TABLE param_rotations ADD COLUMN workdir TEXT;
ALTER TABLE param_rotations ADD COLUMN pending_run BYTEA;
ALTER TABLE param_rotations ADD COLUMN lease_hook BIGINT;
INSERT INTO param_labels (name, label, version)
SELECT p.name, 'current', m.version FROM params p
JOIN (SELECT v.name, max(v.version) AS version FROM param_versions v
      WHERE NOT EXISTS (SELECT 1 FROM param_labels l
                        WHERE l.name = v.name AND l.version = v.version AND l.label = 'pending')
      GROUP BY v.name) m ON m.name = p.name
WHERE NOT EXISTS (SELECT 1 FROM param_labels l WHERE l.name = p.name AND l.label = 'current');
"#,
    // Version 4: the audit log is keyed (`crate::store::audit`); the key is made by the first
    // holder of the root key to open the store. The version makes older builds refuse the
    // store instead of appending unkeyed entries.
    r#"
UPDATE meta SET value = value WHERE false;
"#,
    // Version 5: the key table is sealed (`crate::store::key_seal`); the first holder of the
    // root key to open the store seals the rows of an older one.
    r#"
ALTER TABLE keys ADD COLUMN seal_seq BIGINT, ADD COLUMN mac BYTEA;
ALTER TABLE key_versions ADD COLUMN mac BYTEA;
-- Partial: a key's last change is found in the few key entries, whatever the planner knows
-- of the table (a fresh store has no statistics, and a scan of the whole log per read would
-- grow with it).
CREATE INDEX audit_key_changes ON audit (name, seq) WHERE verb LIKE 'key-%';
"#,
    // Version 6: the parameter rows are sealed (`crate::store::param_seal`); the first holder
    // of the root key to open the store seals the rows of an older one. The index finds a
    // parameter's last change among its reads (its condition is `CHANGE_VERBS_SQL`).
    r#"
ALTER TABLE params ADD COLUMN born BIGINT, ADD COLUMN seal_seq BIGINT, ADD COLUMN mac BYTEA;
ALTER TABLE param_versions ADD COLUMN mac BYTEA;
CREATE INDEX audit_param_changes ON audit (name, seq)
    WHERE verb IN ('put', 'label', 'unlabel', 'rotate', 'rm', 'restore', 'destroy');
"#,
    // Version 7: keys with roots of their own (`keys.root`: `crate::store::roots`); path
    // policies (`crate::store::policy_seal`): which key protects a path, the whole set sealed
    // to the last policy change, which the audit head names. And
    // the destroyed versions of a parameter, which every head check reads, found without
    // reading its version rows.
    r#"
ALTER TABLE keys ADD COLUMN root TEXT;
CREATE TABLE policies (
    path       TEXT COLLATE "C" PRIMARY KEY,
    key_ref    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    author     TEXT NOT NULL
);
CREATE TABLE policy_seal (
    one      INTEGER PRIMARY KEY CHECK (one = 1),
    seal_seq BIGINT NOT NULL,
    mac      BYTEA NOT NULL
);
CREATE INDEX param_versions_destroyed ON param_versions (name, version)
    WHERE destroyed_at IS NOT NULL;
"#,
    // Version 8: database logins limited to paths (`coffer role create`, module `roles`). A
    // login that has the privileges of a role in `role_paths` (by OID, so a rename keeps its
    // limits; through membership too), unless row security does not apply to it (a
    // superuser, BYPASSRLS, the tables' owner), sees and writes only the parameter rows at or below its
    // paths, sees only the audit entries of those or of no parameter and appends only those of
    // its paths, and of `meta` updates only the log's head; every other login is not limited
    // (the store's owner is not subject to row security at all, and for another login
    // `coffer_limited` is evaluated once per statement, not per row). The functions name
    // their tables by schema and search `pg_temp` last, so a temporary table of the same name
    // changes nothing. `audit_chain` is the chain without its names, for everyone: an append
    // checks the tail, a home checks the entry it last saw.
    r#"
CREATE TABLE role_paths (
    role OID NOT NULL,
    path TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (role, path)
);
DO $do$
DECLARE
    s TEXT := quote_ident(current_schema());
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION %1$s.coffer_limited(who NAME) RETURNS BOOLEAN
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
            AS $b$
                SELECT EXISTS (
                    SELECT 1 FROM %1$s.role_paths r
                    WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles g
                                            WHERE g.oid = r.role)
                          THEN pg_catalog.pg_has_role(who, r.role, 'USAGE') ELSE false END)
                AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles u
                                WHERE u.rolname = who AND (u.rolsuper OR u.rolbypassrls))
                AND NOT pg_catalog.pg_has_role(who,
                    (SELECT c.relowner FROM pg_catalog.pg_class c
                     WHERE c.oid = '%1$s.params'::pg_catalog.regclass), 'USAGE')
            $b$;
        CREATE FUNCTION %1$s.coffer_visible(n TEXT, who NAME) RETURNS BOOLEAN
            LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
            AS $b$
                SELECT EXISTS (
                    SELECT 1 FROM %1$s.role_paths r
                    WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles g
                                            WHERE g.oid = r.role)
                          THEN pg_catalog.pg_has_role(who, r.role, 'USAGE') ELSE false END
                      AND (r.path = '/' OR n = r.path
                           OR pg_catalog.starts_with(n, r.path || '/')))
            $b$;
    $f$, s);
END
$do$;
DO $do$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['params', 'param_versions', 'param_labels', 'param_rotations'] LOOP
        EXECUTE format($f$
            ALTER TABLE %1$I ENABLE ROW LEVEL SECURITY;
            CREATE POLICY coffer_paths ON %1$I
                USING ((SELECT NOT coffer_limited(current_user))
                       OR coffer_visible(name, current_user))
                WITH CHECK ((SELECT NOT coffer_limited(current_user))
                            OR coffer_visible(name, current_user))
        $f$, t);
    END LOOP;
END
$do$;
ALTER TABLE audit ENABLE ROW LEVEL SECURITY;
CREATE POLICY coffer_paths ON audit
    USING ((SELECT NOT coffer_limited(current_user)) OR left(name, 1) <> '/'
           OR coffer_visible(name, current_user))
    WITH CHECK ((SELECT NOT coffer_limited(current_user)) OR coffer_visible(name, current_user));
ALTER TABLE meta ENABLE ROW LEVEL SECURITY;
CREATE POLICY coffer_any ON meta
    USING ((SELECT NOT coffer_limited(current_user)))
    WITH CHECK ((SELECT NOT coffer_limited(current_user)));
CREATE POLICY coffer_read ON meta FOR SELECT USING (true);
CREATE POLICY coffer_head ON meta FOR UPDATE
    USING (key IN ('audit_count', 'audit_head', 'audit_head_mac', 'audit_keyed_from',
                   'audit_policies'))
    WITH CHECK (key IN ('audit_count', 'audit_head', 'audit_head_mac'));
CREATE VIEW audit_chain AS SELECT seq, prev_hash, hash FROM audit;
GRANT SELECT ON audit_chain TO PUBLIC;
"#,
    // Version 9: what each key with a root of its own attests about the path policies
    // (`crate::store::key_paths`), sealed under a secret its root wraps; the index finds a
    // key's last such entry. Logins limited to paths read the rows, as they read the keys.
    r#"
CREATE TABLE key_paths (
    name     TEXT COLLATE "C" PRIMARY KEY REFERENCES keys (name),
    secret   BYTEA NOT NULL,
    paths    TEXT NOT NULL,
    holes    TEXT NOT NULL,
    seal_seq BIGINT NOT NULL,
    mac      BYTEA NOT NULL
);
CREATE INDEX audit_attest_paths ON audit (name, seq) WHERE verb = 'attest-paths';
DO $do$
DECLARE
    r NAME;
BEGIN
    FOR r IN SELECT DISTINCT g.rolname FROM role_paths p
             JOIN pg_catalog.pg_roles g ON g.oid = p.role LOOP
        EXECUTE format('GRANT SELECT ON key_paths TO %I', r);
    END LOOP;
END
$do$;
"#,
];
