//! The SQLite store's schema: the migrations that make it, one per version.

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 10;

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: [&str; 10] = [
    r"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE keys (
    name                 TEXT PRIMARY KEY NOT NULL,
    spec                 TEXT NOT NULL,
    created_at           INTEGER NOT NULL,
    state                TEXT NOT NULL CHECK (state IN ('enabled', 'disabled')),
    rotation_period_secs INTEGER CHECK (rotation_period_secs > 0),
    min_decrypt_version  INTEGER NOT NULL DEFAULT 1 CHECK (min_decrypt_version >= 1),
    active_version       INTEGER NOT NULL CHECK (active_version >= 1)
) STRICT;
CREATE TABLE key_versions (
    name       TEXT NOT NULL REFERENCES keys (name),
    version    INTEGER NOT NULL CHECK (version >= 1),
    uuid       BLOB NOT NULL UNIQUE CHECK (length(uuid) = 16),
    created_at INTEGER NOT NULL,
    wrapped    BLOB NOT NULL,
    root_id    TEXT NOT NULL,
    PRIMARY KEY (name, version)
) STRICT;
",
    r"
CREATE TABLE params (
    name       TEXT PRIMARY KEY NOT NULL,
    parent     TEXT NOT NULL,
    latest     INTEGER NOT NULL CHECK (latest >= 1),
    created_at INTEGER NOT NULL,
    deleted_at INTEGER
) STRICT;
CREATE INDEX params_by_parent ON params (parent, name);
CREATE TABLE param_versions (
    name         TEXT NOT NULL REFERENCES params (name) ON DELETE CASCADE,
    version      INTEGER NOT NULL CHECK (version >= 1),
    type         TEXT NOT NULL CHECK (type IN ('string', 'string-list', 'secure-string')),
    value        BLOB,
    key_ref      TEXT,
    description  TEXT,
    tags         TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    author       TEXT NOT NULL,
    expires_at   INTEGER,
    destroyed_at INTEGER,
    PRIMARY KEY (name, version),
    CHECK ((value IS NULL) = (destroyed_at IS NOT NULL))
) STRICT;
CREATE TABLE param_labels (
    name    TEXT NOT NULL,
    label   TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, label),
    FOREIGN KEY (name, version) REFERENCES param_versions (name, version) ON DELETE CASCADE
) STRICT;
CREATE INDEX param_labels_by_version ON param_labels (name, version);
",
    r"
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    at        INTEGER NOT NULL,
    user      TEXT NOT NULL,
    verb      TEXT NOT NULL,
    name      TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES
    ('audit_count', '0'),
    ('audit_head', '0000000000000000000000000000000000000000000000000000000000000000');
",
    r"
CREATE TABLE param_rotations (
    name              TEXT PRIMARY KEY NOT NULL REFERENCES params (name) ON DELETE CASCADE,
    every_secs        INTEGER CHECK (every_secs > 0),
    generate          TEXT,
    set_hook          TEXT,
    test_hook         TEXT,
    hook_timeout_secs INTEGER NOT NULL CHECK (hook_timeout_secs > 0),
    next_due          INTEGER,
    lease_holder      TEXT,
    lease_until       INTEGER,
    last_error        TEXT,
    seal              BLOB
) STRICT;
",
    r"
ALTER TABLE param_rotations ADD COLUMN workdir TEXT;
ALTER TABLE param_rotations ADD COLUMN pending_run BLOB;
ALTER TABLE param_rotations ADD COLUMN lease_hook INTEGER;
INSERT INTO param_labels (name, label, version)
SELECT p.name, 'current', m.version FROM params p
JOIN (SELECT v.name, max(v.version) AS version FROM param_versions v
      WHERE NOT EXISTS (SELECT 1 FROM param_labels l
                        WHERE l.name = v.name AND l.version = v.version AND l.label = 'pending')
      GROUP BY v.name) m ON m.name = p.name
WHERE NOT EXISTS (SELECT 1 FROM param_labels l WHERE l.name = p.name AND l.label = 'current');
",
    // Version 6: the audit log is keyed (`crate::store::audit`). The key is made by the first
    // holder of the root key to open the store (the schema cannot: it needs the root key);
    // the version makes older builds refuse the store instead of appending unkeyed entries.
    r"
UPDATE meta SET value = value WHERE 0;
",
    // Version 7: the key table is sealed (`crate::store::key_seal`); the first holder of the
    // root key to open the store seals the rows of an older one (it needs the root key).
    r"
ALTER TABLE keys ADD COLUMN seal_seq INTEGER;
ALTER TABLE keys ADD COLUMN mac BLOB;
ALTER TABLE key_versions ADD COLUMN mac BLOB;
CREATE INDEX audit_by_name ON audit (name, seq);
",
    // Version 8: the parameter rows are sealed (`crate::store::param_seal`); the first holder
    // of the root key to open the store seals the rows of an older one. The index finds a
    // parameter's last change among its reads (its condition is `CHANGE_VERBS_SQL`).
    r"
ALTER TABLE params ADD COLUMN born INTEGER;
ALTER TABLE params ADD COLUMN seal_seq INTEGER;
ALTER TABLE params ADD COLUMN mac BLOB;
ALTER TABLE param_versions ADD COLUMN mac BLOB;
CREATE INDEX audit_param_changes ON audit (name, seq)
    WHERE verb IN ('put', 'label', 'unlabel', 'rotate', 'rm', 'restore', 'destroy');
",
    // Version 9: keys with roots of their own (`keys.root`: `crate::store::roots`); path
    // policies (`crate::store::policy_seal`): which key protects a path, the whole set sealed
    // to the last policy change, which the audit head names. And
    // the destroyed versions of a parameter, which every head check reads, found without
    // reading its version rows.
    r"
ALTER TABLE keys ADD COLUMN root TEXT;
CREATE TABLE policies (
    path       TEXT NOT NULL PRIMARY KEY,
    key_ref    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    author     TEXT NOT NULL
);
CREATE TABLE policy_seal (
    one      INTEGER PRIMARY KEY CHECK (one = 1),
    seal_seq INTEGER NOT NULL,
    mac      BLOB NOT NULL
);
CREATE INDEX param_versions_destroyed ON param_versions (name, version)
    WHERE destroyed_at IS NOT NULL;
",
    // Version 10: what each key with a root of its own attests about the path policies
    // (`crate::store::key_paths`), sealed under a secret its root wraps.
    r"
CREATE TABLE key_paths (
    name     TEXT PRIMARY KEY NOT NULL REFERENCES keys (name),
    secret   BLOB NOT NULL,
    paths    TEXT NOT NULL,
    holes    TEXT NOT NULL,
    seal_seq INTEGER NOT NULL,
    mac      BLOB NOT NULL
) STRICT;
",
];
