//! Directory mode (`-r`): which files of a tree to process and where their outputs go.
//!
//! Only regular files are processed; special files are skipped (with a warning), and so are
//! symbolic links unless `-L` asks to follow them, so that by default a link cannot pull files
//! from outside the tree in. Encrypting adds the
//! [`SUFFIX`]; decrypting removes it and skips files without it.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::report::CliError;

/// The suffix of encrypted files in directory mode.
pub const SUFFIX: &str = ".coffer";

/// Which way a tree is processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Plaintext → message: add [`SUFFIX`].
    Encrypt,
    /// Message → plaintext: remove [`SUFFIX`].
    Decrypt,
}

/// What [`walk`] does with symbolic links.
#[derive(Debug, Clone, Copy)]
pub enum Links<'a> {
    /// Skip them (with a warning): a link cannot pull files from outside the tree in.
    Skip,
    /// Follow links to files and directories; never enter `exclude` (the output tree) or a
    /// directory already entered (a link loop).
    Follow {
        /// The output directory.
        exclude: &'a Path,
    },
}

/// The device and inode of a directory, to recognise it when a link leads to it again.
fn dir_id(m: &fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt as _;
    (m.dev(), m.ino())
}

/// Lists the regular files below `root`, as paths relative to it, in a stable (sorted) order.
/// Errors reading a directory are returned; special files are skipped, and symbolic links
/// unless `links` says to follow them.
pub fn walk(root: &Path, links: &Links<'_>) -> Result<Vec<PathBuf>, io::Error> {
    let mut out = Vec::new();
    let mut entered = std::collections::HashSet::new();
    if let Links::Follow { exclude } = links {
        entered.insert(dir_id(&fs::metadata(root)?));
        if let Ok(m) = fs::metadata(exclude) {
            // Not entered, but never to be entered.
            entered.insert(dir_id(&m));
        }
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let mut entries = fs::read_dir(&dir)?.collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(fs::DirEntry::file_name);
        let mut subdirs = Vec::new();
        for e in entries {
            let mut ty = e.file_type()?;
            let child = rel.join(e.file_name());
            let shown = || root.join(&child).display().to_string();
            if ty.is_symlink() {
                if matches!(links, Links::Skip) {
                    tracing::warn!(path = %shown(), "skipped: a symbolic link (-L follows links)");
                    continue;
                }
                match fs::metadata(e.path()) {
                    Ok(m) => ty = m.file_type(),
                    Err(err) => {
                        tracing::warn!(path = %shown(), "skipped: a broken symbolic link ({err})");
                        continue;
                    }
                }
            }
            if ty.is_dir() {
                if matches!(links, Links::Follow { .. })
                    && !entered.insert(dir_id(&fs::metadata(e.path())?))
                {
                    tracing::warn!(
                        path = %shown(),
                        "skipped: a directory already in the run (a link loop or the output)"
                    );
                    continue;
                }
                subdirs.push(child);
            } else if ty.is_file() {
                out.push(child);
            } else {
                tracing::warn!(path = %shown(), "skipped: not a regular file");
            }
        }
        // Depth-first, in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    out.sort();
    Ok(out)
}

/// The output path of `rel` (relative) in the output tree, or `None` if the file is skipped:
/// decrypting a file without the suffix, or whose name before it is no file name (`..coffer`
/// and `...coffer` would name `.` and `..`, the directory itself or its parent).
pub fn output_name(rel: &Path, direction: Direction) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt as _;
    let name = rel.file_name()?;
    match direction {
        Direction::Encrypt => {
            let mut out = name.to_os_string();
            out.push(SUFFIX);
            Some(rel.with_file_name(out))
        }
        Direction::Decrypt => {
            let stem = name.as_bytes().strip_suffix(SUFFIX.as_bytes())?;
            (!matches!(stem, b"" | b"." | b".."))
                .then(|| rel.with_file_name(std::ffi::OsStr::from_bytes(stem)))
        }
    }
}

/// Refuses an output tree inside the input tree or the other way round. The output need not
/// exist yet (it is checked before being created, so a refused run creates nothing in the
/// input tree); the input must.
pub fn check_not_nested(input: &Path, output: &Path) -> Result<(), CliError> {
    let ci = fs::canonicalize(input)
        .map_err(|e| CliError::failure(format!("cannot open {}: {e}", input.display())))?;
    let co = canonicalize_lenient(output)
        .map_err(|e| CliError::failure(format!("cannot open {}: {e}", output.display())))?;
    if co.starts_with(&ci) || ci.starts_with(&co) {
        return Err(CliError::usage(format!(
            "the input directory {} and the output directory {} overlap",
            input.display(),
            output.display()
        ))
        .hint("choose an output directory outside the input tree"));
    }
    Ok(())
}

/// The canonical form of `path` when it exists; otherwise that of its longest existing
/// ancestor followed by the rest of the path, normalized (components that do not exist yet
/// cannot be symbolic links).
fn canonicalize_lenient(path: &Path) -> io::Result<PathBuf> {
    let mut rest = Vec::new();
    let mut cur = path;
    loop {
        match fs::canonicalize(if cur.as_os_str().is_empty() {
            Path::new(".")
        } else {
            cur
        }) {
            Ok(mut base) => {
                for c in rest.iter().rev() {
                    match c {
                        Component::ParentDir => {
                            base.pop();
                        }
                        Component::Normal(n) => base.push(n),
                        _ => {}
                    }
                }
                return Ok(base);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut comps = cur.components();
                match comps.next_back() {
                    Some(last) => rest.push(last),
                    None => return Err(e),
                }
                cur = comps.as_path();
            }
            Err(e) => return Err(e),
        }
    }
}

/// Creates `dir` and its parents (new directories mode `0700` on unix).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn walk_lists_regular_files_sorted() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("b/c")).unwrap();
        fs::write(d.path().join("z"), b"").unwrap();
        fs::write(d.path().join("a"), b"").unwrap();
        fs::write(d.path().join("b/c/x"), b"").unwrap();
        fs::write(d.path().join("b/y"), b"").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link")).unwrap();
        let files = walk(d.path(), &Links::Skip).unwrap();
        let files: Vec<_> = files.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(files, ["a", "b/c/x", "b/y", "z"]);
    }

    #[test]
    fn following_links_never_loops_and_never_enters_the_output() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("in");
        let elsewhere = d.path().join("elsewhere");
        let out = d.path().join("out");
        for dir in [root.join("sub"), elsewhere.clone(), out.clone()] {
            fs::create_dir_all(dir).unwrap();
        }
        fs::write(root.join("sub/f"), b"").unwrap();
        fs::write(elsewhere.join("g"), b"").unwrap();
        fs::write(out.join("old.coffer"), b"").unwrap();
        symlink(&elsewhere, root.join("there")).unwrap();
        symlink("..", root.join("sub/up")).unwrap();
        symlink(&root, root.join("sub/root")).unwrap();
        symlink(&out, root.join("out")).unwrap();
        symlink("sub/f", root.join("file-link")).unwrap();
        symlink("missing", root.join("dangling")).unwrap();
        let names = |links: &Links<'_>| -> Vec<String> {
            walk(&root, links)
                .unwrap()
                .iter()
                .map(|p| p.to_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names(&Links::Skip), ["sub/f"]);
        assert_eq!(
            names(&Links::Follow { exclude: &out }),
            ["file-link", "sub/f", "there/g"]
        );
    }

    #[test]
    fn output_names() {
        let p = Path::new("d/f.txt");
        assert_eq!(
            output_name(p, Direction::Encrypt).unwrap(),
            Path::new("d/f.txt.coffer")
        );
        assert_eq!(
            output_name(Path::new("d/f.txt.coffer"), Direction::Decrypt).unwrap(),
            Path::new("d/f.txt")
        );
        assert_eq!(output_name(p, Direction::Decrypt), None);
        assert_eq!(output_name(Path::new(".coffer"), Direction::Decrypt), None);
        // `.` and `..` are not file names: the output would be the directory or its parent.
        assert_eq!(
            output_name(Path::new("x/..coffer"), Direction::Decrypt),
            None
        );
        assert_eq!(
            output_name(Path::new("x/...coffer"), Direction::Decrypt),
            None
        );
        assert_eq!(
            output_name(Path::new("x/....coffer"), Direction::Decrypt).unwrap(),
            Path::new("x/...")
        );
        // Names need not be UTF-8.
        use std::os::unix::ffi::OsStrExt as _;
        let raw = Path::new(std::ffi::OsStr::from_bytes(b"d/\xff"));
        let enc = output_name(raw, Direction::Encrypt).unwrap();
        assert_eq!(enc.as_os_str().as_bytes(), b"d/\xff.coffer");
        assert_eq!(output_name(&enc, Direction::Decrypt).unwrap(), raw);
    }

    #[test]
    fn nesting_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let inner = d.path().join("in/out");
        fs::create_dir_all(&inner).unwrap();
        let other = d.path().join("other");
        fs::create_dir_all(&other).unwrap();
        assert!(check_not_nested(&d.path().join("in"), &inner).is_err());
        assert!(check_not_nested(&inner, &d.path().join("in")).is_err());
        assert!(check_not_nested(&d.path().join("in"), &d.path().join("in")).is_err());
        check_not_nested(&d.path().join("in"), &other).unwrap();
        // Not created yet.
        assert!(check_not_nested(&d.path().join("in"), &d.path().join("in/new/deeper")).is_err());
        assert!(check_not_nested(&d.path().join("in"), &d.path().join("other/../in/new")).is_err());
        check_not_nested(&d.path().join("in"), &d.path().join("other/new")).unwrap();
        assert!(!d.path().join("in/new").exists());
    }
}
