//! No import cycle between the files of the library (`secrets/src`) or of the CLI
//! (`secrets-cli/src`): each crate's files form a layered graph, so a file can be read (and
//! moved) with only the files below it.
//!
//! A file imports another when it names a path into it with `crate::` or `super::` (in a
//! `use` or in code; `crate::{a, b::c}` groups and `super::*` too), and a module's file
//! imports its child when its code uses one (`child::item`). Its `mod` lines and its
//! `pub use` of children are not imports: a parent is made of its children, and re-exports
//! them. Comments, a file's unit tests (its `#[cfg(test)] mod tests`) and test-only files are
//! not read.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Files that hold tests only.
const TEST_FILES: &[&str] = &["tests", "conformance"];

type Module = Vec<String>;

/// Every `.rs` file under `src`, by module path (`store/root.rs` is `[store, root]`,
/// `store/mod.rs` and `store.rs` are `[store]`, `lib.rs` is `[]`).
fn modules(src: &Path) -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, src: &Path, out: &mut BTreeMap<Module, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, src, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(src).unwrap().with_extension("");
                let mut module: Module = rel
                    .components()
                    .map(|c| c.as_os_str().to_str().unwrap().to_owned())
                    .collect();
                if matches!(
                    module.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    module.pop();
                }
                out.insert(module, path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, src, &mut out);
    out
}

/// The code of a file: before its unit tests, without comment lines or trailing comments.
fn code(src: &str) -> String {
    let src = match src.find("#[cfg(test)]\nmod tests") {
        Some(at) => &src[..at],
        None => src,
    };
    src.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| match l.find(" // ") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `line` declares a module or re-exports (`pub use`, `pub(crate) use`).
fn declares_or_reexports(line: &str) -> bool {
    let l = line.trim_start();
    let l = l
        .strip_prefix("pub(crate) ")
        .or_else(|| l.strip_prefix("pub(super) "))
        .or_else(|| l.strip_prefix("pub "))
        .map_or(l, |rest| {
            if rest.starts_with("use ") {
                "use-reexport"
            } else {
                rest
            }
        });
    l == "use-reexport" || l.starts_with("mod ")
}

/// The children of `module` that its code uses (`child::…`, `self::child::…`).
fn used_children(code: &str, children: &[&String]) -> Vec<String> {
    let body: Vec<&str> = code.lines().filter(|l| !declares_or_reexports(l)).collect();
    let body = body.join("\n");
    children
        .iter()
        .filter(|child| {
            let needle = format!("{child}::");
            body.match_indices(&needle).any(|(at, _)| {
                let before = &body[..at];
                before.ends_with("self::")
                    || !before
                        .chars()
                        .next_back()
                        .is_some_and(|c| is_ident(c) || c == ':')
            })
        })
        .map(|c| (*c).clone())
        .collect()
}

/// The module paths named after each `crate::` or `super::` in `code` (relative to the crate
/// root), groups expanded one level; `super::*` is the parent itself.
fn named_paths(code: &str, module: &[String]) -> Vec<Module> {
    let mut out = Vec::new();
    if code.contains("super::*") {
        out.push(module[..module.len().saturating_sub(1)].to_vec());
    }
    for (root, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        let mut rest = code;
        while let Some(at) = rest.find(root) {
            let before = rest[..at].chars().next_back();
            rest = &rest[at + root.len()..];
            if before.is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let paths: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end].split(',').map(str::trim).collect()
            } else {
                vec![rest]
            };
            for p in paths {
                let mut segs = base.clone();
                for seg in p.split("::") {
                    let ident: String = seg.chars().take_while(|c| is_ident(*c)).collect();
                    if ident.is_empty() || !ident.starts_with(|c: char| c.is_ascii_lowercase()) {
                        break;
                    }
                    segs.push(ident.clone());
                    if ident.len() != seg.len() {
                        break;
                    }
                }
                out.push(segs);
            }
        }
    }
    out
}

/// The file a path leads into: the longest prefix of it that is a file.
fn resolve<'a>(files: &'a BTreeMap<Module, PathBuf>, path: &[String]) -> Option<&'a Module> {
    (0..=path.len())
        .rev()
        .find_map(|n| files.get_key_value(&path[..n]).map(|(k, _)| k))
}

/// Which file imports which.
fn graph(src: &Path) -> BTreeMap<Module, BTreeSet<Module>> {
    let files = modules(src);
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, path) in &files {
        if module
            .last()
            .is_some_and(|m| TEST_FILES.contains(&m.as_str()))
        {
            continue;
        }
        let text = code(&std::fs::read_to_string(path).unwrap());
        let children: Vec<&String> = files
            .keys()
            .filter(|k| k.len() == module.len() + 1 && k.starts_with(module))
            .map(|k| &k[module.len()])
            .collect();
        let targets = edges.entry(module.clone()).or_default();
        for child in used_children(&text, &children) {
            let mut m = module.clone();
            m.push(child);
            targets.insert(m);
        }
        for named in named_paths(&text, module) {
            if let Some(target) = resolve(&files, &named) {
                // The crate root and a module's own descendants are not imports.
                if !target.is_empty() && !target.starts_with(module) {
                    targets.insert(target.clone());
                }
            }
        }
    }
    edges
}

/// The cycles of a graph: its strongly connected components of more than one file (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Module) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on_stack.remove(w);
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

fn describe(edges: &BTreeMap<Module, BTreeSet<Module>>, cycle: &[Module]) -> String {
    let name = |m: &Module| m.join("/");
    let mut out = format!(
        "{}:\n",
        cycle.iter().map(name).collect::<Vec<_>>().join(", ")
    );
    for a in cycle {
        for b in edges[a].iter().filter(|b| cycle.contains(b)) {
            out.push_str(&format!("  {} -> {}\n", name(a), name(b)));
        }
    }
    out
}

fn assert_no_cycles(crate_dir: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(crate_dir)
        .join("src");
    let edges = graph(&src);
    assert!(edges.len() > 20, "{} holds too few files", src.display());
    let found = cycles(&edges);
    assert!(
        found.is_empty(),
        "import cycles in {}:\n{}",
        src.display(),
        found
            .iter()
            .map(|c| describe(&edges, c))
            .collect::<String>()
    );
}

#[test]
fn the_library_has_no_import_cycle() {
    assert_no_cycles("../secrets");
}

#[test]
fn the_cli_has_no_import_cycle() {
    assert_no_cycles(".");
}

/// The reader finds imports (plain, grouped, `super::`) and the cycle they make.
#[test]
fn the_reader_finds_a_cycle() {
    let module = |s: &str| s.split('/').map(str::to_owned).collect::<Module>();
    let code =
        code("use crate::{a::X, b};\n// use crate::c;\nfn f() { super::d::g(); my_crate::e(); }");
    assert_eq!(
        named_paths(&code, &module("x/y")),
        [module("a"), module("b"), module("x/d/g")]
    );
    let mut edges = BTreeMap::new();
    edges.insert(module("a"), BTreeSet::from([module("b")]));
    edges.insert(module("b"), BTreeSet::from([module("c")]));
    edges.insert(module("c"), BTreeSet::from([module("a")]));
    edges.insert(module("d"), BTreeSet::from([module("a")]));
    assert_eq!(
        cycles(&edges),
        [vec![module("a"), module("b"), module("c")]]
    );
}
