//! The RFC 2136 adapter against the stack's BIND (TSIG-signed updates), through the
//! conformance suite: records read back with `dig`, and a wrong TSIG secret refused.

use crate::conformance;
use crate::support;

use std::time::Duration;

use support::Stack;
use wildcert_dns_api::Secret;
use wildcert_dns_rfc2136::{Rfc2136, Rfc2136Settings};

fn settings(stack: &Stack, secret: &str) -> Rfc2136Settings {
    Rfc2136Settings {
        server: format!("127.0.0.1:{}", stack.get("DNS_PORT")),
        key_name: stack.get("TSIG_KEY").to_string(),
        algorithm: "hmac-sha256".into(),
        secret: Secret::new(secret),
        zone: None,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc2136_conformance() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let secret = std::fs::read_to_string(stack.get("TSIG_SECRET_FILE")).unwrap().trim().to_string();
    let fqdn = "_acme-challenge.conformance.gradient.example.com.".to_string();
    let zone = Some("gradient.example.com.".to_string());
    let subject = conformance::Subject {
        provider: Rfc2136::new(settings(&stack, &secret)).unwrap(),
        fqdn: fqdn.clone(),
        zone: zone.clone(),
        read: conformance::dig_reader(stack.get("DNS_PORT").parse().unwrap()),
        secrets: vec![secret.clone()],
    };
    conformance::records(&subject).await;
    // Another valid base64 secret of the same length: BIND answers BADSIG.
    let wrong_secret = "d3JvbmctdHNpZy1zZWNyZXQtb2YtdGhlLXNhbWUtc2l6ZQ==";
    let wrong = Rfc2136::new(settings(&stack, wrong_secret)).unwrap();
    conformance::auth_failure(&wrong, &fqdn, &zone, "tsig_secret", &[wrong_secret.into(), secret]).await;
}
