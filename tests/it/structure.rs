//! The layout's rules, checked rather than agreed (issue 18): the library's modules import
//! each other without a cycle, and no command file in `src/cmd/` imports another command's
//! file (only `shared.rs`). Read from the source text: `crate::<module>` paths outside
//! test code. (`super::Cli`, the command table in `cmd/mod.rs`, is every command's.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::repo;

/// The text of every `.rs` file under `path` (a file or a folder), test modules cut off.
fn code(path: &Path) -> String {
    let mut text = String::new();
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for entry in entries {
            text.push_str(&code(&entry));
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        let all = std::fs::read_to_string(path).unwrap();
        text.push_str(all.split("#[cfg(test)]").next().unwrap());
    }
    text
}

/// Module names a text imports: `crate::a::…` and `use crate::{a, b::…}`.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect::<String>()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            for part in group.split('}').next().unwrap().split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn the_library_has_no_import_cycle() {
    let src = repo().join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if ["main", "lib", "cli", "cmd"].contains(&name.as_str())
            || !(path.is_dir() || path.extension().is_some_and(|e| e == "rs"))
        {
            continue;
        }
        let mut deps = imports(&code(&path));
        deps.remove(&name);
        graph.insert(name, deps);
    }
    assert!(graph.len() > 30, "the modules were not found: {graph:?}");
    // Depth-first search; a module met again on the current path closes a cycle.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == n) {
            cycles.push(format!("{} -> {n}", path[i..].join(" -> ")));
            return;
        }
        if !done.insert(n.to_string()) {
            return;
        }
        path.push(n.to_string());
        for d in graph.get(n).into_iter().flatten() {
            if graph.contains_key(d) {
                visit(d, graph, path, done, cycles);
            }
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    for n in graph.keys() {
        let mut done = BTreeSet::new();
        visit(n, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    cycles.sort();
    cycles.dedup();
    assert!(cycles.is_empty(), "import cycles: {cycles:#?}");
}

#[test]
fn no_command_imports_another_command() {
    let cmd = repo().join("src/cmd");
    let mut wrong = Vec::new();
    let mut seen = 0;
    for entry in std::fs::read_dir(&cmd).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if name == "mod" || name == "shared" {
            continue;
        }
        seen += 1;
        let text = code(&path);
        for (i, _) in text.match_indices("super::") {
            let rest = &text[i + "super::".len()..];
            let target: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == '{')
                .collect();
            // `super::Cli` and friends are mod.rs's command table; a lower-case name is a file.
            if !target.is_empty() && !target.starts_with("shared") {
                wrong.push(format!("{name}.rs imports super::{target}"));
            }
        }
    }
    assert!(seen > 10, "the command files were not found");
    assert!(wrong.is_empty(), "{wrong:#?}");
}
