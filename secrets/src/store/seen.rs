//! What a home has seen of a store's audit log: the highest entry and its hash, per store, so
//! that a store turned back (a backup restored, the tail of its log removed, the database
//! replaced) is noticed by the next command that opens its keys.
//!
//! One small text file per store, `HOME/seen/ID` (mode `0600`, directory `0700`), where `ID`
//! is the first 32 hex digits of `SHA-256(location)`:
//!
//! ```text
//! coffer-seen v1
//! location: /etc/coffer/coffer.db
//! store: 5f0c…(32 hex digits)
//! seq: 57
//! head: 3fa2…(64 hex digits)
//! at: 1796411183
//! ```
//!
//! `at` is when the home first saw entry `seq`. A write goes to `ID.next` and is renamed over
//! `ID`; a write killed half-way leaves `ID.next`, which the next write replaces. The record only moves forward: every commit
//! of this home and every verified open records its head if it is past the recorded one,
//! under an exclusive lock on `ID.lock`, so concurrent commands never move it back. The record
//! is read before the store's head, so a write by another process between the two reads is
//! never taken for a rollback. `coffer audit accept` replaces it with the head of a store that
//! verifies whole.

use std::fs;
use std::io::Write as _;
use std::path::PathBuf;

use crate::error::{Advice, Error};
use crate::home::Home;

/// The first line of a record.
const MAGIC: &str = "coffer-seen v1";
/// A record is far smaller; a larger file is not one.
const MAX_RECORD: usize = 4096;

/// The record file of one store in one home.
#[derive(Debug, Clone)]
pub struct SeenFile {
    path: PathBuf,
    location: String,
}

/// What a home last saw of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The store's `store_id`.
    pub store_id: String,
    /// The highest entry seen.
    pub seq: i64,
    /// Its hash.
    pub head: Vec<u8>,
    /// When it was first seen (Unix seconds).
    pub at: i64,
}

impl Seen {
    /// `entry 57 (head 3fa2c1d0…) on 2026-12-04 19:20:11 UTC`.
    pub fn describe(&self) -> String {
        let head = hex::encode(&self.head);
        format!(
            "entry {} (head {}…) on {}",
            self.seq,
            head.get(..16).unwrap_or(&head),
            crate::time::format_rfc3339(self.at)
        )
    }
}

impl SeenFile {
    /// The record of the store at `location` (as the store names itself) in `home`. A file
    /// path is taken as its canonical path, so a store reached through a symbolic link or
    /// another spelling of its path has one record.
    pub fn new(home: &Home, location: &str) -> Self {
        let location = if location.starts_with('/') {
            fs::canonicalize(location)
                .map_or_else(|_| location.to_owned(), |p| p.display().to_string())
        } else {
            location.to_owned()
        };
        let id = hex::encode(coffer_core::sha256(&[location.as_bytes()]));
        Self {
            path: home.dir().join("seen").join(&id[..32]),
            location,
        }
    }

    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The store's location, as the record names it.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn damaged(&self, why: &str) -> Error {
        Error::corrupt(format!(
            "the record of what this home has seen of the store {} ({}) is damaged: {why}",
            self.location,
            self.path.display()
        ))
        .advice(Advice::AcceptStore)
    }

    /// The record, if the home has one.
    ///
    /// # Errors
    /// The file cannot be read or is not a record.
    pub fn load(&self) -> Result<Option<Seen>, Error> {
        let bytes = match crate::smallfile::read(&self.path, "audit record", MAX_RECORD) {
            Ok(b) => b,
            Err(crate::smallfile::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None);
            }
            Err(e) => {
                return Err(
                    Error::backend(format!("cannot read {}", self.path.display())).caused_by(e),
                );
            }
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| self.damaged("not UTF-8"))?;
        self.parse(text).map(Some)
    }

    fn parse(&self, text: &str) -> Result<Seen, Error> {
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(self.damaged("its first line is not the record's"));
        }
        let mut field = |name: &str| -> Result<&str, Error> {
            lines
                .next()
                .and_then(|l| l.strip_prefix(name))
                .and_then(|l| l.strip_prefix(": "))
                .ok_or_else(|| self.damaged(&format!("no `{name}` line where it belongs")))
        };
        let _location = field("location")?;
        let store_id = field("store")?.to_owned();
        let seq = field("seq")?
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 0)
            .ok_or_else(|| self.damaged("`seq` is not a count"))?;
        let head = hex::decode(field("head")?)
            .ok()
            .filter(|h| h.len() == super::audit::HASH_LEN)
            .ok_or_else(|| self.damaged("`head` is not a hash"))?;
        let at = field("at")?
            .parse::<i64>()
            .map_err(|_| self.damaged("`at` is not a time"))?;
        Ok(Seen {
            store_id,
            seq,
            head,
            at,
        })
    }

    /// Records that the home has seen entry `seq` with hash `head` of store `store_id`: if it
    /// is past the record and the record is at or before entry `upto`, up to which the caller
    /// has checked that the log extends the record (or, with `force`, whatever the record
    /// says).
    ///
    /// # Errors
    /// The directory or file cannot be written.
    pub fn record(
        &self,
        store_id: &str,
        seq: i64,
        head: &[u8],
        force: bool,
        upto: i64,
    ) -> Result<(), Error> {
        self.rewrite_locked(&self.path, "next", || {
            let current = self.load().ok().flatten();
            if !force {
                if let Some(c) = &current {
                    if c.store_id != store_id || c.seq >= seq || c.seq > upto {
                        return Ok(None);
                    }
                }
            }
            Ok(Some(format!(
                "{MAGIC}\nlocation: {}\nstore: {store_id}\nseq: {seq}\nhead: {}\nat: {}\n",
                self.location.replace('\n', " "),
                hex::encode(head),
                crate::time::now_unix()
            )))
        })
    }

    /// Replaces `file`, one of this store's records in the home, with what `make` returns
    /// (`None`: leaves it), under the exclusive lock every record of the store shares
    /// (`ID.lock`, held while `make` reads the file): the new text goes to one fixed side
    /// file (`file` with extension `side`, which a killed write may leave and the next one
    /// replaces), synced, and is renamed over `file`, so a reader sees the old record or the
    /// new one and concurrent commands never move a record back.
    ///
    /// # Errors
    /// `make` fails; the directory or files cannot be written.
    pub(crate) fn rewrite_locked(
        &self,
        file: &std::path::Path,
        side: &str,
        make: impl FnOnce() -> Result<Option<String>, Error>,
    ) -> Result<(), Error> {
        let io = |what: &str, e: std::io::Error| {
            Error::backend(format!("cannot {what} {}", file.display())).caused_by(e)
        };
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder
            .create(crate::files::parent_dir(file))
            .map_err(|e| io("create the directory of", e))?;
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let lock = opts
            .open(self.path.with_extension("lock"))
            .map_err(|e| io("open the lock of", e))?;
        // Held until `lock` is dropped, at the end of this call.
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io("lock", e.into()))?;
        let Some(text) = make()? else {
            return Ok(());
        };
        let next = file.with_extension(side);
        let mut out = opts
            .truncate(true)
            .open(&next)
            .map_err(|e| io("write", e))?;
        out.write_all(text.as_bytes())
            .and_then(|()| out.sync_data())
            .map_err(|e| io("write", e))?;
        fs::rename(&next, file).map_err(|e| io("replace", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_record_moves_forward_only_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let f = SeenFile::new(&home, "/x/coffer.db");
        assert_eq!(f.load().unwrap(), None);
        f.record("s1", 5, &[1; 32], false, 0).unwrap();
        let r = f.load().unwrap().unwrap();
        assert_eq!(
            (r.store_id.as_str(), r.seq, r.head.clone()),
            ("s1", 5, vec![1; 32])
        );
        f.record("s1", 4, &[2; 32], false, 9).unwrap();
        assert_eq!(f.load().unwrap().unwrap().seq, 5, "never back");
        f.record("s2", 9, &[2; 32], false, 9).unwrap();
        assert_eq!(
            f.load().unwrap().unwrap().store_id,
            "s1",
            "never another store"
        );
        f.record("s1", 8, &[2; 32], false, 4).unwrap();
        assert_eq!(
            f.load().unwrap().unwrap().seq,
            5,
            "never from a record not checked"
        );
        f.record("s1", 8, &[2; 32], false, 5).unwrap();
        assert_eq!(f.load().unwrap().unwrap().seq, 8);
        f.record("s2", 1, &[3; 32], true, 0).unwrap();
        assert_eq!(f.load().unwrap().unwrap().seq, 1, "unless forced");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(f.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Another store's location has its own record.
        assert_eq!(SeenFile::new(&home, "/y/coffer.db").load().unwrap(), None);
    }

    #[test]
    fn a_damaged_record_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        let f = SeenFile::new(&home, "/x/coffer.db");
        f.record("s1", 5, &[1; 32], false, 0).unwrap();
        for bad in [
            "",
            "nonsense\n",
            &format!("{MAGIC}\nlocation: x\nstore: s\nseq: -1\n"),
        ] {
            fs::write(f.path(), bad).unwrap();
            let e = f.load().unwrap_err();
            assert!(e.to_string().contains("damaged"), "{e}");
        }
        fs::write(f.path(), vec![b'a'; MAX_RECORD + 1]).unwrap();
        assert!(f.load().is_err());
    }
}
