//! What the `coffer` command says about the library's errors: the exit code of each kind and
//! its `hint:` lines, in the command's own words (its flags and verbs). The library names no
//! flag or verb; this is the one place that turns its errors and [`Advice`] into them.

use crate::io::Refusal;
use coffer::error::{Advice, Error};
use coffer::files::FileError;
use coffer::keyref::{KeyFileError, KeyRefError};
use coffer::params::{MAX_LABEL_LEN, MAX_LEVELS, MAX_VALUE_BYTES_VAR};

/// Whether an error of the library is a usage or configuration error (exit 2: a bad request,
/// no store there, a build without the feature asked for) rather than a failed operation
/// (exit 1).
pub fn is_usage(e: &Error) -> bool {
    matches!(
        e,
        Error::BadName { .. }
            | Error::BadLabel { .. }
            | Error::BadSelector { .. }
            | Error::Invalid(_)
            | Error::NoStore(_)
            | Error::Unsupported(_)
    )
}

/// The `hint:` lines for an error of the library.
pub fn hints(e: &Error) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(h) = param_hint(e) {
        out.push(h);
    }
    if let Some(a) = e.detail().and_then(|d| d.advice()) {
        out.extend(advice(a));
    }
    out
}

/// The hint a parameter error carries by itself.
fn param_hint(e: &Error) -> Option<String> {
    Some(match e {
        Error::BadName { .. } => format!(
            "names are paths like /app/prod/db-password: 1 to {MAX_LEVELS} levels of \
             A-Z a-z 0-9 _ . -"
        ),
        Error::BadLabel { .. } => format!(
            "labels are 1 to {MAX_LABEL_LEN} characters of A-Z a-z 0-9 _ . -, not \
             starting with a digit"
        ),
        Error::TooLarge { .. } => format!(
            "raise the limit with {MAX_VALUE_BYTES_VAR}=BYTES if this is intended; \
             nothing was written"
        ),
        Error::NotFound(_) => "list the parameters with: coffer ls -r".to_owned(),
        Error::NoVersion { name, .. } | Error::NoLabel { name, .. } => {
            format!("see its versions and labels with: coffer history {name}")
        }
        Error::Exists { name, .. } => format!(
            "add --overwrite to write a new version (or --if-version N to write only if \
             the latest is N); see it with: coffer history {name}"
        ),
        Error::TypeChange {
            latest_type,
            new_type,
            ..
        } => format!(
            "give --type {latest_type} (or leave --type out) to keep its type, or add \
             --change-type to make it a {new_type} from this version on"
        ),
        Error::ClearNotAsked { latest_type, .. } => format!(
            "a value is stored in the clear only when --type says so: give --type \
             {latest_type} to write clear text again, or --type secure-string --change-type \
             to encrypt it from this version on"
        ),
        Error::VersionMismatch { name, .. } => {
            format!("someone wrote it meanwhile; look with: coffer history {name}")
        }
        Error::Deleted { name, .. } => format!(
            "restore it with: coffer restore {name} (or remove it for good with: coffer \
             destroy {name})"
        ),
        Error::Destroyed {
            name,
            current: true,
            ..
        }
        | Error::NoCurrent(name) => format!(
            "make a version current with: coffer label {name}:VERSION current (see them \
             with: coffer history {name}), or write a new value with: coffer put {name} \
             --overwrite"
        ),
        Error::Resume {
            name, new_value, ..
        } => format!(
            "{}run `coffer rotate {name}` with no new settings to resume it, or start over \
             with: coffer rotate {name} --discard-pending …",
            if *new_value {
                "a resume keeps the pending value, and --value-file gives a new one: "
            } else {
                ""
            }
        ),
        Error::Expired { name, .. } => {
            format!("write a new value with: coffer put {name} --overwrite --expires WHEN")
        }
        Error::Decrypt {
            key_ref: Some(k), ..
        } => format!(
            "it was encrypted with `{}`: give that key with --key (a local key needs \
             this store's root key, or its own root if it has one)",
            k.escape_debug()
        ),
        Error::Decrypt { .. } => "give the key it was encrypted with: --key KEYREF".into(),
        Error::PlanTampered { name, .. } => {
            format!("look at it with care, then store it again: coffer rotate {name} --every …")
        }
        Error::PolicyKey {
            name,
            path,
            write: true,
            ..
        } => format!(
            "leave out --key (the policy's key is used), or change the policy of {path} with \
             coffer policy set; {name} was not written"
        ),
        Error::PolicyKey { path, want, .. } => format!(
            "every version at or below {path} must be under {want}: this one was written before \
             the policy or by a writer without that key, and is not read; `coffer history` \
             shows who wrote it; a put replaces a current value, `coffer destroy NAME:VERSION` \
             removes an old one"
        ),
        Error::RotationOvertaken { name, .. } => {
            format!("look with: coffer history {name}; then run the rotation again")
        }
        Error::WrongRow { .. } => {
            "the store was edited outside coffer; restore it from a backup".into()
        }
        _ => return None,
    })
}

/// The hint for a piece of advice (none for advice this build does not know).
pub fn advice(a: &Advice) -> Option<String> {
    const STORE_FLAGS: &str = "point --home, COFFER_HOME or --store at a coffer store";
    Some(match a {
        Advice::TryAgain => "run the command again".into(),
        Advice::PoliciesChanged => {
            "another process kept changing the path policies (coffer policy ls shows them); \
             run the command again"
                .into()
        }
        Advice::PointAtStore => format!("nothing was changed; {STORE_FLAGS}"),
        Advice::CreateStore => {
            "create one with: coffer init (or point --home / COFFER_HOME at an existing one)".into()
        }
        Advice::CreateStoreInHome => {
            "create one with: coffer init (it makes COFFER_HOME/coffer.db)".into()
        }
        Advice::RestoreStore => "nothing was changed; a store that was truncated or replaced \
                                 must be restored from a backup (only `coffer init` makes a \
                                 new one)"
            .into(),
        Advice::NameHome => "give --home DIR or set COFFER_HOME".into(),
        Advice::NewerVersion => "it was written by a newer coffer: use that version".into(),
        Advice::RestoreRootKey => "restore root.key from a backup: the keys in the store \
                                   cannot be used without their root key"
            .into(),
        Advice::UseInitRootKey => "use the root.key file that `coffer init` made for this \
                                   store (copy it to every machine that shares the store)"
            .into(),
        Advice::SameRootKey => "every machine that shares the store needs the same root.key".into(),
        Advice::RootSwitchPending => "the next coffer command that uses the keys finishes \
                                      the switch; keep root.key.next until then"
            .into(),
        Advice::PassphraseFile { var } => {
            format!("set {var} to a file that holds the passphrase")
        }
        Advice::PassphraseNeeded { var } => format!(
            "set {var} to a file that holds it, or open the store with \
             Secrets::open_with_passphrase"
        ),
        Advice::WrongPassphrase { var } => {
            format!("the passphrase comes from the file named by {var}, or from the terminal")
        }
        Advice::ShowKey(name) => format!("see it with: coffer key show {name}"),
        Advice::EnableKey(name) => format!("enable it first: coffer key enable {name}"),
        Advice::LowerMinimum { key, version } => format!(
            "to read this message, lower the minimum with `coffer key retire {key} \
             --below-version {version}`"
        ),
        Advice::MoveCurrent(name) => format!(
            "`get {name}` and `exec` read it; point it at another version with `coffer label \
             {name}:VERSION current`"
        ),
        Advice::RotateBeforeRetire(name) => format!(
            "rotate first (coffer key rotate {name}), then retire the versions below the new \
             one; nothing was changed"
        ),
        Advice::ListPolicies => "list the policies with: coffer policy ls".into(),
        Advice::OwnRoot(key) => format!(
            "if this machine should use key `{key}`, copy roots/{key}.key from the home of one \
             that holds it into this home (mode 0600); a machine without it cannot, by design"
        ),
        Advice::PolicyInTheWay(path) => format!(
            "write each again under the key named (coffer get NAME | coffer put NAME \
             --overwrite --key KEY; a policy that refuses that key must be removed first, with \
             coffer policy rm), or destroy it; then change the policy of {path} again"
        ),
        Advice::ListKeys => {
            "list the keys with: coffer key list; create one with: coffer key create NAME".into()
        }
        Advice::VerifyAudit => "nothing was changed; `coffer audit verify` checks the whole log; \
                                compare the store with a backup"
            .into(),
        Advice::AcceptStore => "nothing was changed; if the store was restored from a backup \
                                or replaced on purpose, trust it as it is now with: coffer \
                                audit accept"
            .into(),
        Advice::ForgetStore(record) => format!(
            "nothing was changed; if this store is the one to use from now on, remove {} (this \
             home's record of it): the next write keys its log from there on, and `coffer audit \
             verify` checks the entries before by their unkeyed hashes only",
            record.display()
        ),
        Advice::KeyNameRules => "key names are 1 to 64 characters of A-Z a-z 0-9 _ . -, \
                                 starting with a letter or digit"
            .into(),
        Advice::LocalKeysAreAes => "use --spec aes-256 (the default)".into(),
        Advice::KeySpecs => "the key specs are aes-256, rsa-3072 and rsa-4096".into(),
        Advice::NameNewRoot { kms: false } => "name the token key to move to with --to \
                                                pkcs11:… (make one first: coffer key create \
                                                NAME --in pkcs11:token=…)"
            .into(),
        Advice::NameNewRoot { kms: true } => "name the KMS key to move to with --to kms:KEY \
                                               (KMS rotates a key's material itself: automatic \
                                               key rotation keeps its ARN)"
            .into(),
        Advice::WriteSecureFirst => "write a first secure value with `coffer put`".into(),
        Advice::NameKmsKey => {
            "name the KMS key to encrypt with: --key kms:ARN or kms:alias/NAME".into()
        }
        Advice::PgSslRootCert => "set PGSSLROOTCERT to the PEM file of the CA that signed \
                                  the server's certificate"
            .into(),
        Advice::PgCertificate => "the server's certificate must chain to a root in \
                                  PGSSLROOTCERT (else the system's roots) and name the host \
                                  of the URL"
            .into(),
        Advice::PgReachable => "is the PostgreSQL server running and reachable? the URL is \
                                postgres://USER@HOST:PORT/DATABASE (the password from \
                                PGPASSWORD)"
            .into(),
        Advice::PgLimitedLogin => "a database login made by `coffer role create` reads and \
                                   writes only the parameters at or below its paths; use one \
                                   whose paths include this name"
            .into(),
        Advice::PgNoConnectionFree { attempts } => format!(
            "the server has no connection free (its max_connections, or the role's \
             CONNECTION LIMIT); coffer tried {attempts} times over several seconds: raise \
             the limit or put a pooler such as PgBouncer in front"
        ),
        Advice::PgNotReady { attempts } => format!(
            "the server is starting, recovering or shutting down; coffer tried {attempts} \
             times over several seconds"
        ),
        Advice::PgLocksHeld { attempts } => format!(
            "other sessions held locks that coffer needs (coffer tried {attempts} times \
             over several seconds); look for long transactions in pg_stat_activity"
        ),
        Advice::PostgresUrlForm => "the form is postgres://USER@HOST:PORT/DATABASE".into(),
        Advice::StoreUrlForms => {
            "store URLs are sqlite://PATH and postgres://USER@HOST:PORT/DATABASE".into()
        }
        Advice::BuildWithSqlite => {
            "build coffer with its default features (the `sqlite` feature)".into()
        }
        Advice::BuildWithPostgres => {
            "build coffer with its default features (the `postgres` feature)".into()
        }
        Advice::DurationForm => "durations are numbers with units, one or several: 30s, 15m, \
                                 12h, 90d, 1w, 1h30m"
            .into(),
        Advice::TimeForm => "give an RFC 3339 time (2026-12-31T23:59:59Z) or a duration from \
                             now (90d, 12h, 30m)"
            .into(),
        Advice::PutFirst(name) => format!("write its first value with: coffer put {name}"),
        Advice::AnotherRotation => {
            "another rotation may be under way; look with: coffer history NAME".into()
        }
        Advice::ScheduleWithGenerator(name) => {
            format!("store the plan with one: coffer rotate {name} --every … --generate SPEC")
        }
        Advice::GiveValue => "give it on stdin or with --value-file, or use --generate SPEC".into(),
        _ => return None,
    })
}

/// The hint for a file the library could not write, if there is a useful one.
pub fn file_hint(e: &FileError) -> Option<&'static str> {
    match e {
        FileError::Exists(_) => Some("use --force to overwrite it"),
        FileError::MissingParent { .. } => Some("create the directory first"),
        FileError::Symlink(_) => Some("remove the link, or choose another output directory"),
        _ => None,
    }
}

/// The hint for a run refused before any work, if there is a useful one.
pub fn refusal_hint(e: &Refusal) -> Option<&'static str> {
    match e {
        Refusal::CiphertextToTerminal => {
            Some("redirect stdout, use -o FILE, or give -o - to write to the terminal anyway")
        }
        Refusal::MetadataClash { .. } => Some("give --metadata-output a file of its own"),
        Refusal::SameFile(_) => None,
    }
}

/// The hint for a KMS key whose Region is not known.
pub const NO_KMS_REGION: &str = "set AWS_REGION or a region in a profile of ~/.aws/config, or give the key as a key ARN \
     (kms:arn:aws:kms:REGION:ACCOUNT:key/ID): its Region is used";

/// The hint for a key reference that does not parse, if there is a useful one.
pub fn keyref_hint(e: &KeyRefError) -> Option<&'static str> {
    match e {
        KeyRefError::UnknownScheme(_) | KeyRefError::Empty | KeyRefError::MissingPath(_) => {
            Some("key references look like aes:PATH or rsa:PATH[?padding=oaep-sha256]")
        }
        KeyRefError::NotSupported { .. } => Some(
            "this build supports local keys (NAME or local:NAME) and raw key files (aes:PATH, rsa:PATH)",
        ),
        KeyRefError::BadLocalName { .. } => Some(
            "key names are 1 to 64 characters of A-Z a-z 0-9 _ . -, starting with a letter or \
             digit; key files are given as aes:PATH or rsa:PATH",
        ),
        _ => None,
    }
}

/// The hint for a key file that cannot be used, if there is a useful one.
pub fn keyfile_hint(e: &KeyFileError) -> Option<String> {
    match e {
        KeyFileError::AesLength { .. } => {
            Some("create one with: head -c 32 /dev/urandom > KEYFILE".to_owned())
        }
        KeyFileError::NotPem { .. } => Some(
            "rsa: keys are PEM files; convert DER with: openssl pkey -inform DER -in KEY -out KEY.pem"
                .to_owned(),
        ),
        KeyFileError::UnsupportedPem { label, .. } => match label.as_str() {
            "RSA PRIVATE KEY" => Some(
                "convert the PKCS#1 key to PKCS#8 with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.p8.pem"
                    .to_owned(),
            ),
            "RSA PUBLIC KEY" => Some(
                "convert the PKCS#1 public key to SPKI with: openssl rsa -RSAPublicKey_in -in KEY -pubout -out KEY.pub.pem"
                    .to_owned(),
            ),
            "ENCRYPTED PRIVATE KEY" => Some(
                "decrypt the key first with: openssl pkcs8 -in KEY -nocrypt -out KEY.p8.pem"
                    .to_owned(),
            ),
            _ => None,
        },
        KeyFileError::NeedPublic { .. } => Some(
            "extract the public key with: openssl pkey -in KEY -pubout -out KEY.pub.pem"
                .to_owned(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_decrypt_error_names_the_recorded_key() {
        let e = Error::Decrypt {
            name: coffer::params::ParamName::parse("/w").unwrap(),
            version: 1,
            key_ref: Some("aes:test-7".into()),
            source: "wrong key".into(),
        };
        assert!(hints(&e)[0].contains("`aes:test-7`: give that key with --key"));
        assert!(!is_usage(&e));
    }

    #[test]
    fn kinds_decide_usage_and_advice_gives_the_hint() {
        let e = Error::no_store("no coffer store in /x").advice(Advice::CreateStore);
        assert!(is_usage(&e));
        assert_eq!(hints(&e), [advice(&Advice::CreateStore).unwrap()]);
        assert!(hints(&e)[0].starts_with("create one with: coffer init"));
        let e = Error::corrupt("damaged").advice(Advice::RestoreRootKey);
        assert!(!is_usage(&e));
        assert!(hints(&Error::backend("x")).is_empty());
    }

    #[test]
    fn key_advice_names_the_verbs() {
        assert_eq!(
            advice(&Advice::EnableKey("app".into())).as_deref(),
            Some("enable it first: coffer key enable app")
        );
        assert!(
            advice(&Advice::LowerMinimum {
                key: "app".into(),
                version: 1
            })
            .unwrap()
            .contains("coffer key retire app --below-version 1")
        );
    }

    #[test]
    fn key_reference_and_key_file_hints() {
        let e = "a b".parse::<coffer::keyref::KeyRef>().unwrap_err();
        assert!(keyref_hint(&e).unwrap().contains("aes:PATH"), "{e}");
        let pkcs1 = b"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n";
        let e = coffer::keyref::classify_pem(std::path::Path::new("k.pem"), pkcs1).unwrap_err();
        assert!(keyfile_hint(&e).unwrap().contains("pkcs8"), "{e}");
    }
}
