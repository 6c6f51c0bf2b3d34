//! Every outbound HTTP client through a forward proxy: an issuance from Pebble (https,
//! CONNECT tunnels) and the bucket upload to the S3 server (http, absolute-form requests)
//! go through a counting proxy on loopback; `NO_PROXY` bypasses it; a proxy that does not
//! answer fails with a message naming the setting.

#[path = "support/http_proxy.rs"]
mod http_proxy;
mod support;

use std::path::Path;
use std::process::{Command, Output};

use http_proxy::HttpProxy;
use support::{Stack, stderr, stdout};

const PROXY_VARS: [&str; 8] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Runs wildcert with exactly these proxy variables (none inherited).
fn run(config: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wildcert"));
    cmd.arg("--config").arg(config).args(args).env_remove("WILDCERT_LOG");
    for var in PROXY_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().expect("run wildcert")
}

fn port_of(url: &str) -> String {
    url.rsplit(':').next().unwrap().split('/').next().unwrap().to_string()
}

fn count(map: &std::collections::HashMap<String, usize>, port: &str) -> usize {
    map.get(&format!("127.0.0.1:{port}")).copied().unwrap_or(0)
}

#[test]
fn issuance_and_bucket_upload_go_through_the_proxy_and_no_proxy_bypasses_it() {
    let stack = Stack::up();
    let proxy = HttpProxy::start();
    let pebble = port_of(stack.get("ACME_DIRECTORY"));
    let s3 = port_of(stack.get("S3_ENDPOINT"));
    let with_credentials = format!("http://proxyuser:proxy%20pw@127.0.0.1:{}", proxy.port);
    let env = [("HTTPS_PROXY", with_credentials.as_str()), ("http_proxy", with_credentials.as_str())];
    let config = stack.config_path();

    let out = run(&config, &env, &["bucket", "setup"]);
    assert!(out.status.success(), "bucket setup failed:\n{}\n{}", stdout(&out), stderr(&out));
    let out = run(&config, &env, &["issue"]);
    assert!(out.status.success(), "issue failed:\n{}\n{}", stdout(&out), stderr(&out));
    assert!(!stderr(&out).contains("proxy pw") && !stderr(&out).contains("proxy%20pw"), "{}", stderr(&out));

    let seen = proxy.seen();
    eprintln!("through the proxy: tunnels {:?}, forwarded {:?}", seen.tunnels, seen.forwarded);
    let (tunnels, forwarded) = (count(&seen.tunnels, &pebble), count(&seen.forwarded, &s3));
    assert!(tunnels >= 1, "no CONNECT tunnel to Pebble (port {pebble}): {seen:?}");
    assert!(
        forwarded >= 3,
        "the bucket calls (setup, upload, switch) did not go through the proxy: {seen:?}"
    );
    assert_eq!(seen.tunnels.len(), 1, "only Pebble is reached over https: {seen:?}");
    // "proxyuser:proxy pw", percent-decoded, in every request the proxy saw.
    assert_eq!(
        seen.auth.len(),
        seen.tunnels.values().sum::<usize>() + seen.forwarded.values().sum::<usize>()
    );
    assert!(seen.auth.iter().all(|a| a == "Basic cHJveHl1c2VyOnByb3h5IHB3"), "{:?}", seen.auth);
    let stored = support::stdout(&run(&config, &[], &["status"]));
    assert!(stored.contains("gradient"), "{stored}");

    // NO_PROXY with the loopback address: nothing more reaches the proxy.
    let bypass = [env[0], env[1], ("NO_PROXY", "example.invalid,127.0.0.1")];
    let out = run(&config, &bypass, &["issue", "--force"]);
    assert!(out.status.success(), "issue with NO_PROXY failed:\n{}\n{}", stdout(&out), stderr(&out));
    let after = proxy.seen();
    assert_eq!(after.tunnels, seen.tunnels, "NO_PROXY=127.0.0.1 still tunnelled");
    assert_eq!(after.forwarded, seen.forwarded, "NO_PROXY=127.0.0.1 still forwarded");

    // The configuration's [network] proxy, with the environment empty: through the proxy again.
    let text = stack.config_text() + &format!("\n[network]\nproxy = \"{}\"\n", proxy.url());
    let configured = stack.write_config("proxied.toml", &text);
    let out = run(&configured, &[], &["issue", "--force"]);
    assert!(out.status.success(), "issue with [network] proxy failed:\n{}\n{}", stdout(&out), stderr(&out));
    let last = proxy.seen();
    eprintln!("after [network] proxy: tunnels {:?}, forwarded {:?}", last.tunnels, last.forwarded);
    assert!(count(&last.tunnels, &pebble) > tunnels && count(&last.forwarded, &s3) > forwarded, "{last:?}");
    // ... and its no_proxy list bypasses it.
    let text = stack.config_text()
        + &format!(
            "\n[network]\nproxy = \"{}\"\nno_proxy = [\"localhost\", \"127.0.0.1:{pebble}\"]\n",
            proxy.url()
        );
    let partly = stack.write_config("partly.toml", &text);
    let out = run(&partly, &[], &["issue", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let end = proxy.seen();
    assert_eq!(count(&end.tunnels, &pebble), count(&last.tunnels, &pebble), "no_proxy with Pebble's port");
    assert!(count(&end.forwarded, &s3) > count(&last.forwarded, &s3), "S3's port is not exempt");
}

#[test]
fn a_proxy_that_does_not_answer_is_named_in_the_error() {
    let stack = Stack::up_with(&[("STACK_S3", "0")]);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://someone:hunter2@127.0.0.1:{}", dead.local_addr().unwrap().port());
    drop(dead);
    let out = run(&stack.config_path(), &[("https_proxy", dead_url.as_str())], &["issue"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("through the proxy http://127.0.0.1:") && err.contains("(from https_proxy)"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    let text = stack.config_text() + &format!("\n[network]\nproxy = \"{dead_url}\"\n");
    let configured = stack.write_config("dead-proxy.toml", &text);
    let out = run(&configured, &[], &["issue"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("(from [network] proxy)"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    // `config check` names an unusable proxy variable, and shows a usable one without its password.
    let out = run(&stack.config_path(), &[("HTTPS_PROXY", "socks5://127.0.0.1:1080")], &["config", "check"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out)
            .contains("proxy: HTTPS_PROXY = socks5://127.0.0.1:1080: socks5:// proxies are not supported"),
        "{}",
        stdout(&out)
    );
    let out = run(
        &stack.config_path(),
        &[("https_proxy", dead_url.as_str()), ("no_proxy", "localhost")],
        &["config", "check"],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("proxy: https:// through http://127.0.0.1:")
            && stdout(&out).contains("(from https_proxy), http:// through direct; no proxy for: localhost"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("hunter2"));

    let text = stack.config_text() + "\n[network]\nproxy = \"socks5://127.0.0.1:1080\"\n";
    let socks = stack.write_config("socks.toml", &text);
    let out = run(&socks, &[], &["config", "check"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("network.proxy") && stderr(&out).contains("socks5"), "{}", stderr(&out));
}

/// Route53 (the AWS SDK with wildcert's HTTP client) through the configured proxy: its API
/// calls to moto arrive at the proxy in absolute form. (In-process: the proxy setting is
/// process-wide, and this is the only test of this file that builds clients itself.)
#[cfg(feature = "route53")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route53_api_calls_go_through_the_configured_proxy() {
    use wildcert_dns_api::{DnsProvider, TxtRecord};
    use wildcert_dns_route53::sdk::config::{BehaviorVersion, Credentials, Region};
    use wildcert_dns_route53::{Route53, Route53Settings};

    let stack = Stack::up();
    let proxy = HttpProxy::start();
    let endpoint = stack.get("S3_ENDPOINT").to_string();
    let moto = port_of(&endpoint);
    let direct = wildcert_dns_route53::sdk::Client::from_conf(
        wildcert_dns_route53::sdk::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
            .endpoint_url(&endpoint)
            .build(),
    );
    direct
        .create_hosted_zone()
        .name("proxied.example.com")
        .caller_reference(format!("proxy-test-{}", std::process::id()))
        .send()
        .await
        .unwrap();
    assert_eq!(count(&proxy.seen().forwarded, &moto), 0);

    wildcert_dns_http::proxy::configure(Some(wildcert_dns_http::proxy::ProxySettings::configured(
        &proxy.url(),
        None,
        "[network] proxy",
    )));
    let r53 = Route53::new(Route53Settings {
        access_key_id: Some("AKIDEXAMPLE".into()),
        secret_access_key: Some(wildcert_dns_api::Secret::new("moto-does-not-check")),
        endpoint: Some(endpoint.clone()),
        change_timeout: std::time::Duration::from_secs(10),
        request_timeout: std::time::Duration::from_secs(10),
        ..Default::default()
    })
    .unwrap();
    let record = TxtRecord {
        fqdn: "_acme-challenge.proxied.example.com".into(),
        zone: None,
        value: "through-the-proxy".into(),
        ttl: 60,
        raw: None,
    };
    r53.present(&record).await.unwrap();
    r53.cleanup(&record).await.unwrap();
    wildcert_dns_http::proxy::configure(None);
    let seen = proxy.seen();
    eprintln!("route53 through the proxy: forwarded {:?}", seen.forwarded);
    assert!(count(&seen.forwarded, &moto) >= 3, "zone lookup, change, cleanup: {seen:?}");
}
