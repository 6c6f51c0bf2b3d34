//! The OCI DNS adapter against a contract fake of the Oracle Cloud Infrastructure DNS API
//! (`20180115`), built from its documentation:
//! <https://docs.oracle.com/en-us/iaas/api/#/en/dns/20180115/> (GetZone, GetDomainRecords,
//! PatchDomainRecords) and
//! <https://docs.oracle.com/en-us/iaas/Content/API/Concepts/signingrequests.htm> (request
//! signatures).
//!
//! The fake checks every request's `Authorization: Signature version="1",keyId="<tenancy>/
//! <user>/<fingerprint>",algorithm="rsa-sha256",headers="...",signature="..."` as OCI does:
//! the key ID, the signed header list (`(request-target) date host`, plus
//! `x-content-sha256 content-type content-length` with a body), the body's hash and length,
//! a `date` within five minutes, and the RSA signature over the signing string against the
//! API key's public half; otherwise 401 `{"code": "NotAuthenticated", "message"}`. Zones and
//! records belong to one compartment (`compartmentId`, else 404
//! `NotAuthorizedOrNotFound`). `GET zones/{zone}/records/{domain}?rtype=TXT` pages by two
//! items with `opc-next-page`; `PATCH` applies `ADD` and `REMOVE` operations to the domain's
//! records. When given a BIND, the fake applies each TXT change to it through RFC 2136, so
//! Pebble validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{Secret, txt_text};
use wildcert_dns_http::rsa_key::RsaKey;
use wildcert_dns_oraclecloud::{ApiKey, OracleCloud};
use wildcert_dns_rfc2136::Rfc2136;

const TENANCY: &str = "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq";
const USER: &str = "ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq";
const FINGERPRINT: &str = "20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";
const COMPARTMENT: &str =
    "ocid1.compartment.oc1..aaaaaaaa4xbjdxqj2nqrnwwsmqtu3d6ukbq3lsgpevnsvdbjycvbu6gt3lha";
const PASSPHRASE: &str = "oci-key-passphrase-4f1d";

struct State {
    public_key: Vec<u8>,
    zones: Vec<String>,
    /// (zone, domain, rdata, ttl); all TXT.
    records: Vec<(String, String, String, u64)>,
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"code": code, "message": message}))
}

fn authenticate(state: &State, request: &HttpRequest) -> Result<(), &'static str> {
    let value = request.header("authorization").ok_or("no Authorization header")?;
    let params = value.strip_prefix("Signature ").ok_or("not a Signature")?;
    let param = |name: &str| {
        params
            .split(',')
            .find_map(|p| p.strip_prefix(&format!("{name}=\"")))
            .and_then(|p| p.strip_suffix('"'))
    };
    if param("version") != Some("1") || param("algorithm") != Some("rsa-sha256") {
        return Err("unsupported signature version or algorithm");
    }
    if param("keyId") != Some(format!("{TENANCY}/{USER}/{FINGERPRINT}").as_str()) {
        return Err("unknown keyId");
    }
    let headers: Vec<&str> = param("headers").ok_or("no headers")?.split(' ').collect();
    let mut required = vec!["(request-target)", "date", "host"];
    if matches!(request.method.as_str(), "POST" | "PUT" | "PATCH") {
        required.extend(["x-content-sha256", "content-type", "content-length"]);
        let sha = base64::engine::general_purpose::STANDARD
            .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, request.body.as_bytes()).as_ref());
        if request.header("x-content-sha256") != Some(sha.as_str()) {
            return Err("x-content-sha256 does not match the body");
        }
        if request.header("content-length") != Some(request.body.len().to_string().as_str()) {
            return Err("content-length does not match the body");
        }
    }
    if required.iter().any(|h| !headers.contains(h)) {
        return Err("a required header is not signed");
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let date = request.header("date").ok_or("no date")?;
    let at = time::PrimitiveDateTime::parse(date, &format).map_err(|_| "malformed date")?.assume_utc();
    if (time::OffsetDateTime::now_utc() - at).abs() > time::Duration::minutes(5) {
        return Err("date is more than five minutes off");
    }
    let mut lines = Vec::new();
    for name in &headers {
        let line = match *name {
            "(request-target)" => {
                format!("(request-target): {} {}", request.method.to_ascii_lowercase(), request.target)
            }
            name => format!("{name}: {}", request.header(name).ok_or("a signed header is missing")?),
        };
        lines.push(line);
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(param("signature").ok_or("no signature")?)
        .map_err(|_| "malformed signature")?;
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        &state.public_key,
    )
    .verify(lines.join("\n").as_bytes(), &signature)
    .map_err(|_| "the signature does not verify")
}

fn items(records: &[(String, String, String, u64)], zone: &str, domain: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|(z, d, _, _)| z == zone && d == domain)
        .map(|(_, d, rdata, ttl)| json!({"domain": d, "rtype": "TXT", "rdata": rdata, "ttl": ttl, "isProtected": false, "recordHash": format!("{:x}", rdata.len() * 7919 + ttl.to_owned() as usize), "rrsetVersion": "3"}))
        .collect()
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    if let Err(why) = authenticate(state, request) {
        return error(401, "NotAuthenticated", why);
    }
    if request.param("compartmentId").as_deref() != Some(COMPARTMENT) {
        return error(
            404,
            "NotAuthorizedOrNotFound",
            "Authorization failed or requested resource not found.",
        );
    }
    let segments = request.segments();
    let known = |zone: &str| state.zones.iter().any(|z| z == zone);
    match (request.method.as_str(), segments.as_slice()) {
        (_, ["20180115", "zones", zone, ..]) if !known(zone) => {
            error(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found.")
        }
        ("GET", ["20180115", "zones", zone]) => Reply::json(
            200,
            json!({"name": zone, "id": format!("ocid1.dns-zone.oc1..{zone}"), "compartmentId": COMPARTMENT, "zoneType": "PRIMARY", "lifecycleState": "ACTIVE"}),
        ),
        ("GET", ["20180115", "zones", zone, "records", domain]) => {
            if request.param("rtype").as_deref() != Some("TXT") {
                return error(400, "InvalidParameter", "this fake serves rtype=TXT");
            }
            let all = items(&state.records, zone, domain);
            let page: usize = request.param("page").and_then(|p| p.parse().ok()).unwrap_or(0);
            let chunk: Vec<Value> = all.iter().skip(page * 2).take(2).cloned().collect();
            let mut reply =
                Reply::json(200, json!({"items": chunk})).header("opc-total-items", all.len().to_string());
            if all.len() > (page + 1) * 2 {
                reply = reply.header("opc-next-page", (page + 1).to_string());
            }
            reply
        }
        ("PATCH", ["20180115", "zones", zone, "records", domain]) => {
            let (zone, domain) = (zone.to_string(), domain.to_string());
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let Some(ops) = body["items"].as_array() else {
                return error(400, "InvalidParameter", "items is required");
            };
            let mut changes = Vec::new();
            let mut records = state.records.clone();
            for op in ops {
                if op["domain"] != domain.as_str() || op["rtype"] != "TXT" || !op["rdata"].is_string() {
                    return error(
                        400,
                        "InvalidParameter",
                        "each item needs this domain, rtype TXT and rdata",
                    );
                }
                let rdata = op["rdata"].as_str().unwrap().to_string();
                match op["operation"].as_str() {
                    Some("ADD") => {
                        let Some(ttl) = op["ttl"].as_u64() else {
                            return error(400, "InvalidParameter", "ADD needs a ttl");
                        };
                        if !records.iter().any(|(z, d, r, _)| *z == zone && *d == domain && *r == rdata) {
                            changes.push(Change::add(format!("{domain}."), txt_text(&rdata)));
                            records.push((zone.clone(), domain.clone(), rdata, ttl));
                        }
                    }
                    Some("REMOVE") => {
                        let before = records.len();
                        records.retain(|(z, d, r, _)| !(*z == zone && *d == domain && *r == rdata));
                        if records.len() < before {
                            changes.push(Change::remove(format!("{domain}."), txt_text(&rdata)));
                        }
                    }
                    _ => {
                        return error(
                            400,
                            "InvalidParameter",
                            "operation must be ADD, REMOVE, REQUIRE or PROHIBIT",
                        );
                    }
                }
            }
            state.records = records;
            Reply::json(200, json!({"items": items(&state.records, &zone, &domain)})).with(changes)
        }
        _ => error(404, "NotAuthorizedOrNotFound", "Authorization failed or requested resource not found."),
    }
}

/// An API key as `openssl genrsa` writes it (encrypted when a passphrase is given) and its
/// public half (PKCS#1 DER).
fn api_key(dir: &Path, passphrase: Option<&str>) -> (PathBuf, Vec<u8>) {
    let pem = dir.join(if passphrase.is_some() { "oci_api_key_encrypted.pem" } else { "oci_api_key.pem" });
    let run = |args: Vec<String>| {
        let out = std::process::Command::new("openssl").args(&args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    let path = pem.to_str().unwrap().to_string();
    let mut generate = vec!["genrsa".to_string(), "-out".into(), path.clone()];
    let mut public = vec![
        "rsa".to_string(),
        "-in".into(),
        path.clone(),
        "-RSAPublicKey_out".into(),
        "-outform".into(),
        "DER".into(),
    ];
    if let Some(pass) = passphrase {
        generate.extend(["-aes128".into(), "-passout".into(), format!("pass:{pass}")]);
        public.extend(["-passin".into(), format!("pass:{pass}")]);
    }
    generate.push("2048".into());
    run(generate);
    std::fs::set_permissions(&pem, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    (pem, run(public))
}

async fn fake(public_key: Vec<u8>, zones: &[&str], bind: Option<Rfc2136>) -> FakeApi<State> {
    let state =
        State { public_key, zones: zones.iter().map(|z| z.to_string()).collect(), records: Vec::new() };
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    state.records.iter().filter(|(_, d, _, _)| *d == name).map(|(_, _, r, _)| txt_text(r)).collect()
}

fn adapter(url: &str, pem: &Path, fingerprint: &str) -> OracleCloud {
    let key = RsaKey::from_pem(&Secret::new(std::fs::read_to_string(pem).unwrap()), None).unwrap();
    OracleCloud::new(
        url,
        COMPARTMENT,
        ApiKey { tenancy_id: TENANCY, user_id: USER, fingerprint, key },
        Duration::from_secs(5),
    )
    .unwrap()
}

/// The conformance suite against the contract fake, reading records across pages; the
/// other value at the name survives exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oraclecloud_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, public) = api_key(dir.path(), None);
    let api = fake(public, &["example.org", "example.com"], None).await;
    let theirs = (
        "example.com".to_string(),
        "_acme-challenge.gradient.example.com".to_string(),
        "\"someone-elses\" \"value\"".to_string(),
        300,
    );
    api.state().records = vec![theirs.clone()];
    let fqdn = "_acme-challenge.gradient.example.com.".to_string();
    let key_line = std::fs::read_to_string(&pem).unwrap().lines().nth(5).unwrap().to_string();
    let subject = conformance::Subject {
        provider: adapter(&api.url, &pem, FINGERPRINT),
        fqdn: fqdn.clone(),
        zone: None,
        read: api.reader(values),
        secrets: vec![key_line.clone()],
    };
    conformance::records(&subject).await;
    assert_eq!(api.state().records, vec![theirs]);
    assert!(api.seen().iter().any(|s| s.contains("page=1")), "paging was not exercised: {:#?}", api.seen());
    conformance::auth_failure(
        &adapter(&api.url, &pem, "00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00"),
        &fqdn,
        &None,
        "fingerprint",
        std::slice::from_ref(&key_line),
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, &pem, FINGERPRINT), &api.upstream(), &fqdn, &None)
        .await;
}

/// The installer's settings, and lego's later names, reach the adapter.
#[test]
fn oraclecloud_installer_settings() {
    let text = fake_api::config_with(&format!(
        r#"[dns.installer]
provider = "oraclecloud"
settings = {{ OCI_COMPARTMENT_OCID = "{COMPARTMENT}", OCI_REGION = "eu-frankfurt-1", OCI_PRIVATE_KEY_PATH = "/etc/wildcert/oci_api_key.pem", OCI_TENANCY_OCID = "{TENANCY}", OCI_USER_OCID = "{USER}", OCI_FINGERPRINT = "{FINGERPRINT}", OCI_TTL = "60" }}

[dns.lego]
provider = "oraclecloud"
settings = {{ OCI_COMPARTMENT_OCID = "{COMPARTMENT}", OCI_REGION = "eu-frankfurt-1", OCI_PRIVKEY_FILE = "/etc/wildcert/oci_api_key.pem", OCI_PRIVKEY_PASS_FILE = "/etc/wildcert/oci.pass", OCI_TENANCY_OCID = "{TENANCY}", OCI_USER_OCID = "{USER}", OCI_PUBKEY_FINGERPRINT = "{FINGERPRINT}" }}
"#
    ));
    let config = Config::parse(Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "OCI_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::OracleCloud(cfg) = &config.dns["installer"].config else {
        panic!("not oraclecloud")
    };
    assert_eq!(cfg.base_url(), "https://dns.eu-frankfurt-1.oraclecloud.com");
    assert_eq!(cfg.private_key_path.as_deref(), Some(Path::new("/etc/wildcert/oci_api_key.pem")));
    assert_eq!(cfg.fingerprint, FINGERPRINT);
    let wildcert::dns::provider::ProviderConfig::OracleCloud(cfg) = &config.dns["lego"].config else {
        panic!("not oraclecloud")
    };
    assert!(
        cfg.private_key.is_some() && cfg.private_key_password.is_some() && cfg.private_key_path.is_none()
    );
}

/// `wildcert issue` through the fake with a passphrase-protected key: it writes to BIND
/// over RFC 2136, Pebble validates by asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oraclecloud_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let (pem, public) = api_key(stack.dir(), Some(PASSPHRASE));
    let api = fake(public, &["gradient.example.com"], Some(fake_api::bind_mirror(&stack))).await;
    let pass = fake_api::secret_file(&stack, "oci.pass", PASSPHRASE);
    let table = format!(
        "provider = \"oraclecloud\"\napi_url = \"{}\"\ncompartment_id = \"{COMPARTMENT}\"\ntenancy_id = \"{TENANCY}\"\nuser_id = \"{USER}\"\nfingerprint = \"{FINGERPRINT}\"\nprivate_key_file = \"{}\"\nprivate_key_password_file = \"{}\"",
        api.url,
        pem.display(),
        pass.display()
    );
    let key_line = std::fs::read_to_string(&pem).unwrap().lines().nth(5).unwrap().to_string();
    fake_api::issue_through(&stack, &table, &[PASSPHRASE, &key_line]);
    assert!(api.state().records.is_empty());
}
