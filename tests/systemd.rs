//! The systemd units pass `systemd-analyze verify`, and the service unit keeps its hardening.

use std::path::PathBuf;
use std::process::Command;

fn units() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("service" | "timer")))
        .collect();
    v.sort();
    v
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let mut copies = Vec::new();
    for unit in units() {
        // verify checks that ExecStart exists: point it at the binary under test.
        let text = std::fs::read_to_string(&unit)
            .unwrap()
            .replace("/usr/local/bin/wildcert", env!("CARGO_BIN_EXE_wildcert"));
        let copy = tmp.path().join(unit.file_name().unwrap());
        std::fs::write(&copy, text).unwrap();
        copies.push(copy);
    }
    assert_eq!(copies.len(), 3, "wildcert.service, wildcert-renew.service, wildcert-renew.timer");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&copies)
        .output()
        .expect("systemd-analyze (package systemd; scripts/stack install adds it)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn service_is_notify_with_watchdog_and_hardened() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/wildcert.service")).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "StateDirectory=wildcert",
        "ConfigurationDirectory=wildcert",
        "User=wildcert",
    ] {
        assert!(text.contains(line), "wildcert.service lacks {line:?}");
    }
    let timer = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/wildcert-renew.timer"))
        .unwrap();
    assert!(timer.contains("RandomizedDelaySec=") && timer.contains("Persistent=true"));
}
