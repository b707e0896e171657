//! No module of any workspace crate imports another in a loop.
//!
//! Each `src/*.rs` file is a module; a module depends on another when it names it through
//! `crate::NAME` (or `super::NAME` from a nested file), directly or through an item the crate
//! root re-exports (`pub use NAME::{…}` in `lib.rs`). The crate root itself is only the index of
//! its modules and is left out. A loop is reported with every module on it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates whose modules are checked, relative to the workspace root.
const CRATES: &[&str] = &[
    "zenreg-derive",
    "zenreg-core",
    "zenreg-store",
    "zenreg-push",
    "zenreg-image",
    "zenreg-cli",
    "zenreg-aws-example/config",
    "zenreg-aws-example/impl",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// Identifiers that follow `prefix` in `text` (`crate::store` → `store`).
fn names_after<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.match_indices(prefix).filter_map(move |(at, _)| {
        let rest = &text[at + prefix.len()..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

/// Items of `use` groups: `crate::{a::B, c}` → `a`, `c`; nested groups are flattened loosely,
/// which can only add edges (never hide a loop).
fn grouped_names(text: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in text.match_indices(&format!("{prefix}{{")) {
        let rest = &text[at + prefix.len() + 1..];
        let mut depth = 1;
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let group = &rest[..end];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices().chain([(group.len(), ',')]) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    let item = group[start..i].trim();
                    let head: String = item.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !head.is_empty() {
                        names.push(head);
                    }
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    names
}

/// Module name → the modules it depends on, for one crate.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let root_file = if src.join("lib.rs").exists() { src.join("lib.rs") } else { src.join("main.rs") };
    let root = std::fs::read_to_string(&root_file).expect("the crate root");
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("src/") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        if path.extension().is_some_and(|e| e == "rs") && name != "lib" && name != "main" {
            modules.insert(name, std::fs::read_to_string(&path).expect("a module"));
        } else if path.is_dir() && path.join("mod.rs").exists() {
            let mut text = String::new();
            for file in std::fs::read_dir(&path).expect("a module directory") {
                let file = file.expect("a directory entry").path();
                let own = std::fs::read_to_string(&file).unwrap_or_default();
                // In a nested file, `super::NAME` names a sibling of the directory's module only
                // from mod.rs; from the other files it names mod.rs's items, inside the module.
                if file.file_name().is_some_and(|f| f == "mod.rs") {
                    text.push_str(&own);
                } else {
                    text.push_str(&own.replace("super::", "self::"));
                }
            }
            modules.insert(name, text);
        }
    }
    // Items the root re-exports, by the module they come from.
    let mut reexported: BTreeMap<String, String> = BTreeMap::new();
    for line in root.lines().map(str::trim).filter(|l| l.starts_with("pub use ")) {
        let Some(module) = names_after(line, "pub use ").next() else { continue };
        if !modules.contains_key(module) {
            continue;
        }
        let items = &line["pub use ".len() + module.len()..];
        for item in items.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|i| !i.is_empty()) {
            reexported.insert(item.to_string(), module.to_string());
        }
    }
    let mut graph = BTreeMap::new();
    for (name, text) in &modules {
        let mut referenced: Vec<String> = names_after(text, "crate::").map(String::from).collect();
        referenced.extend(grouped_names(text, "crate::"));
        let mut deps = BTreeSet::new();
        for item in referenced {
            let target = if modules.contains_key(&item) { Some(item) } else { reexported.get(&item).cloned() };
            if let Some(target) = target.filter(|t| t != name) {
                deps.insert(target);
            }
        }
        graph.insert(name.clone(), deps);
    }
    graph
}

/// Every loop in a graph, each as the modules on it.
fn loops(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|n| n == node) {
            found.push(path[at..].to_vec());
            return;
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done, found);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn no_module_imports_another_in_a_loop() {
    let mut problems = Vec::new();
    for krate in CRATES {
        let graph = module_graph(&workspace_root().join(krate).join("src"));
        assert!(!graph.is_empty() || *krate == "zenreg-aws-example/config", "{krate} has no modules to check?");
        for cycle in loops(&graph) {
            problems.push(format!("{krate}: {}", cycle.join(" → ")));
        }
    }
    assert!(problems.is_empty(), "modules importing each other in a loop:\n{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_a_loop() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(loops(&graph), [vec!["a".to_string(), "b".to_string(), "c".to_string()]]);
    assert_eq!(grouped_names("use crate::{x::Y, z, w::{p, q}};", "crate::"), ["x", "z", "w"]);
}
