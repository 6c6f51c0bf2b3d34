//! The bundle and key parser on arbitrary input: never panics, never hangs.
//!
//! Input: key file and bundle file split at the first NUL byte, or the same bytes for both
//! (so a plain PEM file is a useful seed). `cargo test` replays `corpus/bundle/` the same
//! way (`bundle::tests::fuzz_corpus_replays_without_panicking`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use wildcert::bundle::{CheckOptions, Input, check};

fuzz_target!(|data: &[u8]| {
    let (key, bundle) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, data),
    };
    let opts = CheckOptions::new(vec!["*.gradient.example.com".into()]);
    let report =
        check(Input { label: "key.pem", bytes: key }, &[Input { label: "bundle.crt", bytes: bundle }], &opts);
    for problem in &report.problems {
        let _ = problem.to_string();
    }
});
