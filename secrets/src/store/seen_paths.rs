//! What a home has seen of the paths its keys sealed ([`super::key_paths`]): per store, for
//! each key with a root of its own whose check passed here, the audit entry its paths were
//! sealed to. A row of such a key put back from before that entry, or removed, is refused by
//! this home even while the later entries are hidden in the database (their verb or name
//! edited), which a read, not walking the chain, would not notice.
//!
//! One small text file per store beside the home's record of its log ([`super::seen`]):
//! `HOME/seen/ID.paths` (mode `0600`), written under the same lock, as `ID.paths-next`
//! renamed over it, and only ever moving forward:
//!
//! ```text
//! coffer-seen-paths v1
//! prod 57
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::seen::SeenFile;
use crate::error::{Advice, Error};

const MAGIC: &str = "coffer-seen-paths v1";
/// A record is far smaller; a larger file is not one.
const MAX_RECORD: usize = 64 * 1024;

/// The record of one store in one home.
#[derive(Debug, Clone)]
pub struct SeenPaths {
    seen: SeenFile,
    path: PathBuf,
}

impl SeenPaths {
    /// The record beside `seen`.
    pub fn of(seen: &SeenFile) -> Self {
        Self {
            seen: seen.clone(),
            path: seen.path().with_extension("paths"),
        }
    }

    fn damaged(&self, why: &str) -> Error {
        Error::corrupt(format!(
            "the record of the paths this home has seen its keys seal ({}) is damaged: {why}",
            self.path.display()
        ))
        .advice(Advice::AcceptStore)
    }

    /// The entry each key's paths were last seen sealed to.
    ///
    /// # Errors
    /// The file cannot be read or is not a record.
    pub fn load(&self) -> Result<BTreeMap<String, i64>, Error> {
        let bytes = match crate::smallfile::read(&self.path, "paths record", MAX_RECORD) {
            Ok(b) => b,
            Err(crate::smallfile::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(BTreeMap::new());
            }
            Err(e) => {
                return Err(
                    Error::backend(format!("cannot read {}", self.path.display())).caused_by(e),
                );
            }
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| self.damaged("not UTF-8"))?;
        let mut lines = text.lines();
        if lines.next() != Some(MAGIC) {
            return Err(self.damaged("its first line is not the record's"));
        }
        let mut out = BTreeMap::new();
        for line in lines {
            let (name, seq) = line
                .split_once(' ')
                .and_then(|(n, s)| Some((n, s.parse::<i64>().ok().filter(|s| *s > 0)?)))
                .ok_or_else(|| {
                    self.damaged(&format!(
                        "`{}` is not a key and an entry",
                        line.escape_debug()
                    ))
                })?;
            out.insert(name.to_owned(), seq);
        }
        Ok(out)
    }

    /// Records that key `name`'s paths were seen sealed to entry `seq`, if that is past the
    /// record.
    ///
    /// # Errors
    /// The directory or file cannot be written.
    pub fn record(&self, name: &str, seq: i64) -> Result<(), Error> {
        self.seen.rewrite_locked(&self.path, "paths-next", || {
            let mut all = self.load()?;
            if all.get(name).is_some_and(|&s| s >= seq) {
                return Ok(None);
            }
            all.insert(name.to_owned(), seq);
            let mut text = format!("{MAGIC}\n");
            for (n, s) in &all {
                text.push_str(&format!("{n} {s}\n"));
            }
            Ok(Some(text))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::home::Home;
    use std::fs;

    #[test]
    fn a_record_moves_forward_only_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let seen = SeenFile::new(&Home::new(dir.path()), "/nowhere/coffer.db");
        let pins = SeenPaths::of(&seen);
        assert!(pins.load().unwrap().is_empty());
        pins.record("prod", 7).unwrap();
        pins.record("other", 3).unwrap();
        pins.record("prod", 5).unwrap();
        let all = pins.load().unwrap();
        assert_eq!(all.get("prod"), Some(&7));
        assert_eq!(all.get("other"), Some(&3));
        pins.record("prod", 9).unwrap();
        assert_eq!(pins.load().unwrap().get("prod"), Some(&9));
        fs::write(
            seen.path().with_extension("paths"),
            "coffer-seen-paths v1\nprod x\n",
        )
        .unwrap();
        assert!(pins.load().unwrap_err().to_string().contains("is damaged"));
    }
}
