//! DNS behaviour against the real BIND: CNAME delegation of the challenge name, the
//! wildcard-CNAME trap, and the `dns check` doctor.

mod support;

use support::{Stack, stderr, stdout};

fn stack() -> Stack {
    Stack::up_with(&[("STACK_S3", "0")])
}

#[test]
fn challenge_delegated_by_cname_to_another_zone_is_written_there() {
    let stack = stack();
    stack.nsupdate_admin(
        "zone gradient.example.com\nupdate add _acme-challenge.gradient.example.com. 60 CNAME _acme-challenge.delegated.example.net.",
    );
    let out = stack.wildcert(&["-v", "issue"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    let log = stderr(&out);
    assert!(log.contains("following CNAME delegation"), "{log}");
    assert!(log.contains("_acme-challenge.delegated.example.net."), "{log}");
    assert!(stack.dig_txt("_acme-challenge.delegated.example.net").is_empty(), "cleaned up at the target");
    let check = stack.wildcert(&["dns", "check"]);
    assert!(
        stdout(&check).contains("delegated by CNAME -> _acme-challenge.delegated.example.net."),
        "{}",
        stdout(&check)
    );
}

#[test]
fn wildcard_cname_trap_is_explained_and_nothing_is_written() {
    let stack = stack();
    stack.nsupdate_admin(
        "zone gradient.example.com\nupdate add *.gradient.example.com. 60 CNAME lb.delegated.example.net.",
    );
    let out = stack.wildcert(&["issue"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("wildcard CNAME *.gradient.example.com."), "{err}");
    assert!(err.contains("lb.delegated.example.net."), "{err}");
    assert!(err.contains("Create an explicit record"), "says how to fix: {err}");
    assert!(stack.dig_txt("lb.delegated.example.net").is_empty(), "nothing written into the other zone");
    assert!(!stack.live_dir().join("gradient").exists());

    // The fix the message suggests works: an explicit record shadows the wildcard.
    stack.nsupdate_admin(
        "zone gradient.example.com\nupdate add _acme-challenge.gradient.example.com. 60 TXT \"placeholder\"",
    );
    let out = stack.wildcert(&["issue"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stack.dig_txt("_acme-challenge.gradient.example.com"),
        vec!["placeholder"],
        "only our values removed"
    );
}

#[test]
fn dns_check_reports_every_step() {
    let stack = stack();
    let out = stack.wildcert(&["dns", "check"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    for expected in [
        "clock within",
        "zone gradient.example.com. (found by its SOA)",
        "negative-caching TTL 30s",
        &format!("{} answers authoritatively", stack.get("DNS_SERVER")),
        "probe TXT written at _acme-challenge.gradient.example.com. and served by",
        "probe TXT removed",
        "*.gradient.example.com: no CAA records",
        "0 failure(s)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(stack.dig_txt("_acme-challenge.gradient.example.com").is_empty());

    // A CAA record for another CA makes it fail, naming the record.
    stack.nsupdate_admin(
        "zone gradient.example.com\nupdate add gradient.example.com. 60 CAA 0 issue \"ca.invalid\"",
    );
    let out = stack.wildcert(&["dns", "check"]);
    let text = stdout(&out);
    assert!(text.contains("CAA at gradient.example.com. allows [ca.invalid]"), "{text}");
}
