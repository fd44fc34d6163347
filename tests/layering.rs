//! The layering of `src/`: imports run one way, and no modules import
//! each other in a circle.
//!
//! Reads every `crate::…` and `super::…` path in the code (comments
//! skipped, `{a, b}` groups expanded) and fails, naming the file and line,
//! on (1) a top-level module importing one of a higher layer than its own,
//! (2) a top-level module missing from [`LAYERS`], (3) a cycle between the
//! files or folders of one folder. docs/architecture.md draws the layers.
//!
//! It reads the source only: it builds nothing of the crate, so it runs in
//! a second.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first; a module may import its own layer's modules
/// (when that makes no cycle) and any layer before it, never one after.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["units", "monitor", "runtime"],
    &["model"],
    &["lens", "connections"],
    &["storage"],
    &["backup"],
    &["cluster"],
    &["planner"],
    &["pgwire", "http"],
    &["config"],
    &["cli"],
    &["server"],
    &["lib", "main"],
];

/// One module path reference: where it is written and what it names.
struct Reference {
    file: PathBuf,
    line: usize,
    /// The referring module, as path segments from the crate root.
    from: Vec<String>,
    /// The module path named, resolved from the crate root.
    to: Vec<String>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file is: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code of `text` without comments and string literals (so a path in
/// a doc comment or a message is not an import). Lines keep their places.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                    }
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            // A char literal such as '"' or '{' (lifetimes pass through).
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                let close = if let Some(escaped) = rest.strip_prefix('\\') {
                    escaped.find('\'').map(|i| i + 2)
                } else {
                    (rest.chars().nth(1) == Some('\'')).then_some(2)
                };
                match close {
                    Some(n) => {
                        for _ in 0..n {
                            chars.next();
                        }
                        out.push_str("' '");
                    }
                    None => out.push('\''),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// `code` with every `#[cfg(test)]` module blanked (newlines kept): a
/// unit test may drive its module through the layers above it, as an
/// integration test would, without making the module depend on them.
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(found) = out[from..].find("#[cfg(test)]") {
        let start = from + found;
        let rest = &out[start..];
        let Some(open) = rest.find('{') else { break };
        // Only a module: `#[cfg(test)] fn` or `use` ends at its `;`/body
        // and is rare enough to leave in.
        if !rest[..open].contains("mod ") {
            from = start + 1;
            continue;
        }
        let mut depth = 0;
        let mut end = start + open;
        for (i, c) in out[start + open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let blank: String = out[start..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(start..end, &blank);
        from = start + blank.len();
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path after `crate::` or `super::` in `code`, with `{a, b::c}`
/// groups expanded, as (line, head, segments).
fn paths(code: &str) -> Vec<(usize, &'static str, Vec<String>)> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let line_at = |i: usize| bytes[..i].iter().filter(|c| **c == '\n').count() + 1;
    let mut i = 0;
    while i < bytes.len() {
        let preceded = i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == ':');
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let head = if rest.starts_with("crate::") {
            Some(("crate", 7))
        } else if rest.starts_with("super::") {
            Some(("super", 7))
        } else {
            None
        };
        let Some((head, skip)) = head.filter(|_| !preceded) else {
            i += 1;
            continue;
        };
        let line = line_at(i);
        // `super::super::x` climbs twice.
        let mut prefix = vec![head.to_string()];
        let mut j = i + skip;
        while bytes[j..].iter().take(7).collect::<String>() == "super::" {
            prefix.push("super".into());
            j += 7;
        }
        for tail in expand(&bytes, &mut j) {
            let mut segments = prefix.clone();
            segments.extend(tail);
            out.push((
                line,
                if head == "crate" { "crate" } else { "super" },
                segments,
            ));
        }
        i = j.max(i + 1);
    }
    out
}

/// The paths at `bytes[*at..]`: `a::b::C` or a group `{a::b, c::{d, e}}`.
fn expand(bytes: &[char], at: &mut usize) -> Vec<Vec<String>> {
    let mut segments = Vec::new();
    loop {
        while *at < bytes.len() && bytes[*at].is_whitespace() {
            *at += 1;
        }
        if *at < bytes.len() && bytes[*at] == '{' {
            *at += 1;
            let mut all = Vec::new();
            loop {
                for tail in expand(bytes, at) {
                    let mut p = segments.clone();
                    p.extend(tail);
                    all.push(p);
                }
                while *at < bytes.len() && bytes[*at].is_whitespace() {
                    *at += 1;
                }
                match bytes.get(*at) {
                    Some(',') => *at += 1,
                    Some('}') => {
                        *at += 1;
                        break;
                    }
                    _ => break,
                }
                while *at < bytes.len() && bytes[*at].is_whitespace() {
                    *at += 1;
                }
                if bytes.get(*at) == Some(&'}') {
                    *at += 1;
                    break;
                }
            }
            return all;
        }
        let start = *at;
        while *at < bytes.len() && is_ident(bytes[*at]) {
            *at += 1;
        }
        if *at == start {
            break;
        }
        segments.push(bytes[start..*at].iter().collect());
        if bytes[*at..].iter().take(2).collect::<String>() == "::" {
            *at += 2;
        } else {
            break;
        }
    }
    vec![segments]
}

/// The re-exports of a module file: `pub use child::{A, B};` maps `A` and
/// `B` to `child`, so a reference to `parent::A` is one to `parent::child`
/// (a re-export does not hide a dependency).
fn reexports(module: &[String], code: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let chars: Vec<char> = code.chars().collect();
    let mut from = 0;
    while let Some(found) = code[from..].find("pub use ") {
        let start = from + found;
        from = start + 8;
        let mut at = code[..from].chars().count();
        for path in expand(&chars, &mut at) {
            let Some((name, path)) = path.split_last() else {
                continue;
            };
            let mut target = match path.first().map(String::as_str) {
                Some("crate") => Vec::new(),
                Some("self") => module.to_vec(),
                _ => module.to_vec(),
            };
            for segment in path {
                match segment.as_str() {
                    "crate" | "self" => {}
                    "super" => {
                        target.pop();
                    }
                    _ => target.push(segment.clone()),
                }
            }
            out.insert(name.clone(), target);
        }
    }
    out
}

fn references(src: &Path) -> (Vec<Reference>, BTreeSet<Vec<String>>) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let codes: Vec<(PathBuf, Vec<String>, String)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("read a source file");
            (
                f.clone(),
                module_of(src, f),
                without_tests(&code_only(&text)),
            )
        })
        .collect();
    let mut reexported: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
    for (_, module, code) in &codes {
        for (name, target) in reexports(module, code) {
            reexported.insert((module.clone(), name), target);
        }
    }
    let mut out = Vec::new();
    for (file, from, code) in &codes {
        for (line, head, segments) in paths(code) {
            // `super` in `a/b.rs` and in `a/b/mod.rs` both name `a`.
            let mut base: Vec<String> = if head == "crate" {
                Vec::new()
            } else {
                from[..from.len().saturating_sub(1)].to_vec()
            };
            for s in segments.iter().skip(1) {
                if s == "super" {
                    base.pop();
                } else {
                    base.push(s.clone());
                }
            }
            // The longest prefix that is a module (the rest names an item),
            // through the module's re-export of that item if it has one.
            let to = (1..=base.len())
                .rev()
                .find(|&n| modules.contains(&base[..n]))
                .map(|n| {
                    let module = base[..n].to_vec();
                    match base.get(n) {
                        Some(item) => reexported
                            .get(&(module.clone(), item.clone()))
                            .filter(|t| modules.contains(*t))
                            .cloned()
                            .unwrap_or(module),
                        None => module,
                    }
                });
            if let Some(to) = to
                && to != *from
            {
                out.push(Reference {
                    file: file.clone(),
                    line,
                    from: from.clone(),
                    to,
                });
            }
        }
    }
    (out, modules)
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Upward imports and unplaced modules, one line each.
fn layer_violations(refs: &[Reference], modules: &BTreeSet<Vec<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    let tops: BTreeSet<&str> = modules.iter().map(|m| m[0].as_str()).collect();
    for top in tops {
        if layer_of(top).is_none() {
            problems.push(format!(
                "src/{top}: a top-level module in no layer; add it to LAYERS in tests/layering.rs"
            ));
        }
    }
    for r in refs {
        let (from, to) = (r.from[0].as_str(), r.to[0].as_str());
        if from == to {
            continue;
        }
        if let (Some(a), Some(b)) = (layer_of(from), layer_of(to))
            && b > a
        {
            problems.push(format!(
                "{}:{}: `{from}` imports `{}`, a higher layer",
                r.file.display(),
                r.line,
                r.to.join("::")
            ));
        }
    }
    problems
}

/// Cycles among the children of each folder (a reference from `a::b::c`
/// to `a::d::e` is an edge `a::b` → `a::d`), with one reference per edge.
fn cycles(refs: &[Reference]) -> Vec<String> {
    let mut edges: BTreeMap<Vec<String>, BTreeMap<Vec<String>, &Reference>> = BTreeMap::new();
    for r in refs {
        let common = r.from.iter().zip(&r.to).take_while(|(a, b)| a == b).count();
        if common < r.from.len() && common < r.to.len() {
            edges
                .entry(r.from[..=common].to_vec())
                .or_default()
                .entry(r.to[..=common].to_vec())
                .or_insert(r);
        }
    }
    let nodes: Vec<&Vec<String>> = edges.keys().collect();
    let mut problems = Vec::new();
    let mut reported: BTreeSet<Vec<Vec<String>>> = BTreeSet::new();
    for start in nodes {
        // The shortest way back to `start`, breadth first.
        let mut previous: BTreeMap<&Vec<String>, &Vec<String>> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut closing = None;
        while let Some(node) = queue.pop_front() {
            for next in edges.get(node).into_iter().flat_map(|e| e.keys()) {
                if next == start {
                    closing = Some(node);
                    break;
                }
                if !previous.contains_key(next) {
                    previous.insert(next, node);
                    queue.push_back(next);
                }
            }
            if closing.is_some() {
                break;
            }
        }
        let Some(mut node) = closing else { continue };
        let mut cycle = vec![node.clone()];
        while node != start {
            node = previous[node];
            cycle.push(node.clone());
        }
        cycle.reverse();
        let mut key = cycle.clone();
        key.sort();
        if !reported.insert(key) {
            continue;
        }
        let steps: Vec<String> = cycle
            .iter()
            .zip(cycle.iter().cycle().skip(1))
            .map(|(a, b)| {
                let r = edges[a][b];
                format!(
                    "{} → {} ({}:{})",
                    a.join("::"),
                    b.join("::"),
                    r.file.display(),
                    r.line
                )
            })
            .collect();
        problems.push(format!("cycle: {}", steps.join(", ")));
    }
    problems
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn imports_run_one_way_and_no_modules_import_each_other_in_a_circle() {
    let (refs, modules) = references(&src());
    assert!(
        refs.len() > 200,
        "only {} references found: the reader is broken",
        refs.len()
    );
    let mut problems = layer_violations(&refs, &modules);
    problems.extend(cycles(&refs));
    assert!(
        problems.is_empty(),
        "{} layering problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checker itself finds what it must: an upward import, a cycle made
/// through a re-export and a group, and no path in a comment or a string.
#[test]
fn the_checker_sees_an_upward_import_and_a_cycle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path();
    let write = |path: &str, text: &str| {
        let path = src.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "pub mod storage;\npub mod planner;\n");
    write(
        "storage/mod.rs",
        "//! Reads, not [`crate::planner`].\nmod a;\nmod b;\nmod c;\npub use b::Thing;\n\
         fn f() { let s = \"crate::planner::x\"; }\n",
    );
    // Through the re-export: a → b.
    write("storage/a.rs", "use super::Thing;\n");
    write(
        "storage/b.rs",
        "use super::{a::Other, c};\n\nuse crate::{model::X,\n  planner::Engine};\n",
    );
    write("planner/mod.rs", "use crate::storage::Store;\n");
    write(
        "storage/c.rs",
        "#[cfg(test)]\nmod tests {\n    use crate::planner::Engine;\n    fn f() { {} }\n}\n",
    );
    let (refs, modules) = references(src);
    let layers = layer_violations(&refs, &modules);
    assert_eq!(
        layers,
        vec![format!(
            "{}:3: `storage` imports `planner`, a higher layer",
            src.join("storage/b.rs").display()
        )]
    );
    let cycles = cycles(&refs);
    assert_eq!(cycles.len(), 2, "{cycles:?}");
    assert!(
        cycles
            .iter()
            .any(|c| c.starts_with("cycle: planner → storage")),
        "{cycles:?}"
    );
    assert!(
        cycles
            .iter()
            .any(|c| c.starts_with("cycle: storage::a → storage::b")),
        "{cycles:?}"
    );
}
