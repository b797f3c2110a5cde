//! The structure's rules, checked on the source text (rust-analyzer's tidy test is the model):
//! the bank's top-level modules form layers and a module uses only layers below its own; no two
//! files of one folder import each other in a cycle; SQL (`sqlx`) lives only in the ledger, which
//! never touches JSON (`serde_json`); warp only in the transport (and the composition root that
//! serves it); the pure crates (domain, ring, twopc) depend on no I/O crate; nothing imports `app`.
//! ARCHITECTURE.md states the same rules in prose.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The bank server's top-level modules, bottom layer first. A module may use modules of a
/// strictly lower layer (and itself). Modules not listed here fail the test: place them.
const LAYERS: &[&[&str]] = &[
    &["ring_clock", "ring_state"],
    &["clock", "faults", "metrics", "protocol"],
    &["ledger"],
    &["peer"],
    &["config"],
    &["ring_driver"],
    &["twopc", "directory"],
    &["service"],
    &["http"],
    &["app"],
];

/// The workspace's crates and the crates of ours each may depend on: the arrows point down
/// (the operator tools reach the bank only through its API, via the typed client).
const CRATE_ARROWS: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("ring", &["ringbank-domain"]), // signed confirmations use the domain's Ed25519 key types
    ("twopc", &["ringbank-ring", "ringbank-domain"]),
    ("wire", &["ringbank-domain"]),
    ("client", &["ringbank-wire", "ringbank-domain"]),
    ("tools", &["ringbank-client", "ringbank-wire", "ringbank-domain", "ringbank-ring"]),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every .rs file under `dir`, as (path relative to src/, text without comments).
fn sources(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read file");
                let relative = path.strip_prefix(dir).expect("under src").to_string_lossy().replace('\\', "/");
                out.push((relative, strip_comments(&text)));
            }
        }
    }
    out.sort();
    out
}

fn strip_comments(text: &str) -> String {
    text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// `ledger/cross.rs` -> ["ledger", "cross"]; `ledger/mod.rs` -> ["ledger"].
fn module_path(relative: &str) -> Vec<String> {
    let mut parts: Vec<String> = relative.trim_end_matches(".rs").split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Identifier paths that follow `prefix` (e.g. "crate::") in `text`, as segment lists.
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let boundary_ok = at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        rest = &rest[at + prefix.len()..];
        if !boundary_ok {
            continue;
        }
        let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
        let segments: Vec<String> = path.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
        if !segments.is_empty() {
            out.push(segments);
        }
    }
    out
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

#[test]
fn modules_use_only_lower_layers_and_nothing_uses_app() {
    let files = sources(&root().join("src"));
    let mut violations = Vec::new();
    for (relative, text) in &files {
        if matches!(relative.as_str(), "main.rs" | "lib.rs") {
            continue;
        }
        let own = &module_path(relative)[0];
        let Some(own_layer) = layer_of(own) else {
            violations.push(format!("{relative}: module `{own}` has no layer in tests/it/tidy.rs (place it)"));
            continue;
        };
        for path in paths_after(text, "crate::") {
            let used = &path[0];
            if used == own {
                continue;
            }
            let allowed = used != "app" && layer_of(used).is_some_and(|theirs| theirs < own_layer);
            if !allowed {
                violations.push(format!("{relative}: `{own}` uses crate::{}", path.join("::")));
            }
        }
    }
    assert!(violations.is_empty(), "upward or unplaced imports:\n{}", violations.join("\n"));
}

#[test]
fn no_folder_has_an_import_cycle_between_its_files() {
    let files = sources(&root().join("src"));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(relative, _)| module_path(relative)).collect();
    // Edges between sibling modules (mod.rs files, which declare and compose their children, are
    // left out: a child may use its parent's items, the parent mounts the children).
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (relative, text) in &files {
        if relative.ends_with("mod.rs") || matches!(relative.as_str(), "main.rs" | "lib.rs") {
            continue;
        }
        let me = module_path(relative);
        let parent = &me[..me.len() - 1];
        let mut targets: Vec<Vec<String>> = paths_after(text, "crate::");
        for path in paths_after(text, "super::") {
            let mut full = parent.to_vec();
            full.extend(path);
            targets.push(full);
        }
        for target in targets {
            // The longest prefix of the path that is a module.
            let module = (1..=target.len()).rev().map(|n| target[..n].to_vec()).find(|m| modules.contains(m));
            if let Some(module) = module {
                let is_sibling = module.len() == me.len() && module[..module.len() - 1] == *parent && module != me;
                let sibling_folder = module.len() > me.len() && module[..me.len()] != me[..] && module[..me.len() - 1] == *parent;
                if is_sibling || sibling_folder {
                    edges.entry(me.clone()).or_default().insert(module[..me.len()].to_vec());
                }
            }
        }
    }
    let mut cycles = Vec::new();
    for (from, targets) in &edges {
        for to in targets {
            if reaches(&edges, to, from, &mut BTreeSet::new()) {
                cycles.push(format!("{} <-> {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(cycles.is_empty(), "files of one folder that import each other (directly or through siblings):\n{}", cycles.join("\n"));
}

fn reaches(
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    from: &Vec<String>,
    goal: &Vec<String>,
    seen: &mut BTreeSet<Vec<String>>,
) -> bool {
    if from == goal {
        return true;
    }
    if !seen.insert(from.clone()) {
        return false;
    }
    edges.get(from).is_some_and(|targets| targets.iter().any(|next| reaches(edges, next, goal, seen)))
}

#[test]
fn sql_json_and_warp_stay_in_their_layers() {
    let mut violations = Vec::new();
    for (relative, text) in sources(&root().join("src")) {
        let in_ledger = relative.starts_with("ledger/");
        let in_transport = relative.starts_with("http/") || relative == "app.rs";
        if !in_ledger && text.contains("sqlx") {
            violations.push(format!("{relative}: sqlx outside src/ledger"));
        }
        if in_ledger && text.contains("serde_json") {
            violations.push(format!("{relative}: serde_json inside src/ledger (the ledger knows no JSON)"));
        }
        if !in_transport && text.contains("warp::") {
            violations.push(format!("{relative}: warp outside src/http and app.rs"));
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_pure_crates_depend_on_no_io_crate() {
    for krate in ["domain", "ring", "twopc"] {
        let manifest = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).expect("manifest");
        let dependencies = manifest.split("[dependencies]").nth(1).unwrap_or("").split("\n[").next().unwrap_or("");
        for io in ["tokio", "sqlx", "reqwest", "warp", "hyper", "rand", "serde_json"] {
            let named = dependencies
                .lines()
                .any(|line| line.trim_start().starts_with(&format!("{io} ")) || line.trim_start().starts_with(&format!("{io}=")));
            assert!(!named, "{krate}/Cargo.toml depends on {io}: the crate must stay pure");
        }
        for (relative, text) in sources(&root().join(krate).join("src")) {
            for io in ["tokio::", "std::fs", "std::net", "std::time::Instant::now", "SystemTime::now"] {
                assert!(!text.contains(io), "{krate}/src/{relative} uses {io}: the crate must stay pure");
            }
        }
    }
}

#[test]
fn crates_depend_only_downward() {
    for (krate, allowed) in CRATE_ARROWS {
        let manifest = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).expect("manifest");
        for line in manifest.lines().map(str::trim) {
            let Some(name) = line.strip_prefix("ringbank").map(|rest| format!("ringbank{}", rest.split([' ', '=']).next().unwrap_or("")))
            else {
                continue;
            };
            if line.contains("path") {
                assert!(allowed.contains(&name.as_str()), "{krate}/Cargo.toml depends on {name}; allowed: {allowed:?}");
            }
        }
    }
}
