//! Keeps the layers of docs/architecture.md: a library module may use modules of its own
//! layer or of lower ones, never a higher one, and the library never knows the command line
//! (`cli`, `commands`, `clap`) or `anyhow` (those belong to the binary).
//!
//! Reads the sources as text: every `crate::<module>` path outside `#[cfg(test)]` code counts
//! (in `use` lines and inline), so a shortcut through a full path is caught too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lowest first. A module not listed here fails the test: place it when you add it.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["names", "failpoint", "progress", "private_file", "error_chain", "digest"]),
    ("config", &["config", "dns", "logging", "host"]),
    ("bundle", &["bundle"]),
    ("plan", &["plan", "ceiling", "state"]),
    ("store", &["store", "hooks"]),
    ("challenge", &["challenge"]),
    ("acme", &["acme"]),
    ("renewal", &["renewal", "supplied", "alerts"]),
    ("service", &["exit", "signals", "daemon", "init"]),
];

/// Modules of the binary crate (`main.rs`): the library must not name them.
const BINARY: &[&str] = &["cli", "commands"];

/// Crates only the binary may use.
const BINARY_CRATES: &[&str] = &["anyhow", "clap"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, modules)| modules.contains(&module))
}

/// The source without its test code and comments: test modules may reach anywhere, and a
/// comment that names a module is no dependency.
fn production_code(source: &str) -> String {
    let code = match source.find("#[cfg(test)]") {
        Some(at) => &source[..at],
        None => source,
    };
    code.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `source` names through `crate::`, including groups such as
/// `use crate::{plan, state};`.
fn crate_modules(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        // `$crate::` in a macro is the same as `crate::`; `wildcert_crate::` is not.
        let before = rest[..at].chars().next_back();
        if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_')) || before == Some('$') {
            if let Some(group) = after.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String =
                        item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() {
                        found.push(name);
                    }
                }
            } else {
                let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        }
        rest = after;
    }
    found
}

/// Whether `source` uses `krate` (a `use` line or a path).
fn uses_crate(source: &str, krate: &str) -> bool {
    source.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with(&format!("use {krate}::"))
            || line.contains(&format!(" {krate}::"))
            || line.contains(&format!("({krate}::"))
            || line.contains(&format!("<{krate}::"))
            || line.contains(&format!("&{krate}::"))
            || line.contains(&format!("[{krate}::"))
            || line.starts_with(&format!("{krate}::"))
            || line.contains(&format!("#[derive({krate}::"))
            || line.contains(&format!(", {krate}::"))
    })
}

/// Every problem with `module`'s `source`, as lines for a person.
fn violations(module: &str, file: &str, source: &str) -> Vec<String> {
    let code = production_code(source);
    let mut out = Vec::new();
    let Some(own) = layer_of(module) else {
        return vec![format!("{file}: module `{module}` is in no layer of tests/layers.rs; place it")];
    };
    for used in crate_modules(&code) {
        if used == module {
            continue;
        }
        if BINARY.contains(&used.as_str()) {
            out.push(format!("{file}: the library uses the binary's `{used}`"));
            continue;
        }
        match layer_of(&used) {
            Some(l) if l > own => out.push(format!(
                "{file}: `{module}` (layer {}) uses `{used}` of the higher layer {}",
                LAYERS[own].0, LAYERS[l].0
            )),
            Some(_) => {}
            None => out.push(format!("{file}: uses `crate::{used}`, which is in no layer")),
        }
    }
    for krate in BINARY_CRATES {
        if uses_crate(&code, krate) {
            out.push(format!("{file}: the library uses `{krate}`, which only the binary may"));
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module of a file under `src/`: `src/store/lock.rs` → `store`.
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn no_library_module_imports_a_higher_layer_or_the_binary() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let module = top_module(&src, file);
        if module == "main" || BINARY.contains(&module.as_str()) {
            continue;
        }
        let shown = file.strip_prefix(src.parent().unwrap()).unwrap().display().to_string();
        let source = std::fs::read_to_string(file).unwrap();
        if module == "lib" {
            for krate in BINARY_CRATES {
                if uses_crate(&production_code(&source), krate) {
                    problems.push(format!("{shown}: the library uses `{krate}`"));
                }
            }
            continue;
        }
        *checked.entry(module.clone()).or_default() += 1;
        problems.extend(violations(&module, &shown, &source));
    }
    assert!(checked.len() >= 15, "too few modules found: {checked:?}");
    assert!(problems.is_empty(), "layer violations:\n{}", problems.join("\n"));
}

#[test]
fn the_binary_modules_are_not_in_the_library() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for module in BINARY {
        assert!(!lib.contains(&format!("mod {module};")), "lib.rs declares the binary's `{module}`");
    }
}

/// The checker itself finds what it must (a test that cannot fail would prove nothing).
#[test]
fn the_checker_reports_upward_imports_the_binary_and_anyhow() {
    let upward = "use crate::renewal::Session;\nfn f() {}\n";
    assert_eq!(violations("store", "src/store/x.rs", upward).len(), 1);
    let grouped = "use crate::{names, acme};\n";
    let found = violations("bundle", "src/bundle/x.rs", grouped);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("`acme`"), "{found:?}");
    let inline = "fn f() { crate::daemon::run(); }\n";
    assert_eq!(violations("config", "src/config/x.rs", inline).len(), 1);
    let binary = "use crate::cli::IssueArgs;\n";
    assert!(violations("daemon", "src/daemon/x.rs", binary)[0].contains("binary"));
    let opaque = "fn f() -> anyhow::Result<()> { Ok(()) }\n";
    assert!(violations("acme", "src/acme/x.rs", opaque)[0].contains("anyhow"));
    let derive = "#[derive(Debug, clap::ValueEnum)]\nenum E { A }\n";
    assert!(!violations("logging", "src/logging.rs", derive).is_empty());
    // Same layer, lower layer, a comment and test code are all fine.
    let fine = "use crate::{dns, names};\n// crate::daemon is mentioned here\n#[cfg(test)]\nmod tests { use crate::renewal; }\n";
    assert!(violations("config", "src/config/x.rs", fine).is_empty());
    assert!(violations("newthing", "src/newthing.rs", "")[0].contains("no layer"));
}
