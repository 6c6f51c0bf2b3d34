//! The example configurations in `config/` stay valid: each one parses, and together they
//! show every built-in DNS adapter.

use std::collections::BTreeSet;
use std::path::Path;

use super::Config;
use super::provider_codes;
use crate::dns::provider::left_out;

#[test]
fn every_example_config_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    let mut adapters = BTreeSet::new();
    for path in &files {
        match Config::load(path) {
            Ok(config) => {
                assert!(!config.certificates.is_empty(), "{} has no [[certificate]]", path.display());
                adapters.extend(config.dns.values().map(|s| s.config.code()));
            }
            // A build without a cargo feature refuses its adapter's sections, as it should.
            Err(e) if !left_out().is_empty() && e.to_string().contains("cargo feature") => {}
            Err(e) => panic!("{e}"),
        }
    }
    let built_in: BTreeSet<&str> = provider_codes::built_in_codes().into_iter().collect();
    assert_eq!(adapters, built_in, "every built-in adapter has an example in config/");
}
