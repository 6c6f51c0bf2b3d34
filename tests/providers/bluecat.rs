//! The BlueCat adapter against a contract fake of Address Manager's legacy REST v1 API,
//! built from its guide (<https://docs.bluecatnetworks.com/r/Address-Manager-Legacy-v1-API-Guide/>)
//! and lego's client of it (<https://github.com/go-acme/lego/tree/master/providers/dns/bluecat>):
//! every call lives under `/Services/REST/v1/`; `GET login?username=&password=` answers the
//! JSON string `"Session Token-> BAMAuthToken: <token> <- for User : <user>"` (refused: HTTP
//! 401, "Authentication Error"), later calls carry `Authorization: BAMAuthToken: <token>`;
//! `getEntityByName?parentId=&name=&type=` answers the entity or one with `id` 0;
//! `getEntities?parentId=&type=&start=&count=` a list; `addEntity?parentId=` (JSON `{name,
//! type, properties}`) the new ID as text; `delete?objectId=`; `quickDeploy?entityId=` pushes a
//! zone's changes to its DNS servers; `logout`. Configurations, views and one zone entity per
//! label nest by `parentId`. When given a BIND, the fake applies a zone's TXT changes to it
//! through RFC 2136 at `quickDeploy`, as Address Manager's servers get them, so Pebble
//! validates a real issuance through this adapter.

use crate::conformance;
use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::HttpRequest;
use support::fake_api::{self, Change, FakeApi, Reply};
use wildcert::config::Config;
use wildcert_dns_api::{DnsProvider, ProviderError, Secret};
use wildcert_dns_bluecat::BlueCat;
use wildcert_dns_rfc2136::Rfc2136;

const USER: &str = "wildcert-api";
const PASSWORD: &str = "bam-Pa55-8c21f4";

#[derive(Debug, Clone)]
struct Entity {
    id: u64,
    parent: u64,
    name: String,
    kind: &'static str,
    properties: String,
}

#[derive(Default)]
struct State {
    entities: Vec<Entity>,
    tokens: BTreeSet<String>,
    next_id: u64,
    /// Changes waiting for a deploy: (zone ID, change).
    pending: Vec<(u64, Change)>,
    deploys: u32,
}

impl State {
    fn add(&mut self, parent: u64, name: &str, kind: &'static str, properties: &str) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.entities.push(Entity { id, parent, name: name.into(), kind, properties: properties.into() });
        id
    }

    /// A zone's absolute name, from its label and its parents'.
    fn absolute(&self, id: u64) -> String {
        let mut labels = Vec::new();
        let mut at = id;
        while let Some(e) = self.entities.iter().find(|e| e.id == at && e.kind == "Zone") {
            labels.push(e.name.clone());
            at = e.parent;
        }
        labels.join(".")
    }
}

fn as_json(e: &Entity) -> Value {
    json!({"id": e.id, "name": e.name, "type": e.kind, "properties": e.properties})
}

fn property(properties: &str, key: &str) -> Option<String> {
    properties
        .split('|')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

fn route(state: &mut State, request: &HttpRequest) -> Reply {
    let Some(call) = request.path().strip_prefix("/Services/REST/v1/") else {
        return Reply::text(404, "text/html", "<html>404</html>");
    };
    let denied = || Reply::json(401, json!("Authentication Error: Invalid username or password"));
    let num = |k: &str| request.param(k).and_then(|v| v.parse::<u64>().ok());
    if call == "login" {
        if request.param("username").as_deref() != Some(USER)
            || request.param("password").as_deref() != Some(PASSWORD)
        {
            return denied();
        }
        state.next_id += 1;
        let token = format!("dQfuRM{}TUxNjc3", state.next_id);
        state.tokens.insert(token.clone());
        return Reply::json(
            200,
            json!(format!("Session Token-> BAMAuthToken: {token} <- for User : {USER}")),
        );
    }
    let token =
        request.header("authorization").and_then(|h| h.strip_prefix("BAMAuthToken: ")).unwrap_or_default();
    if !state.tokens.contains(token) {
        return Reply::json(401, json!("Authentication Error: session not valid"));
    }
    match (request.method.as_str(), call) {
        ("GET", "logout") => {
            state.tokens.remove(token);
            Reply::json(200, json!("User logged out successfully"))
        }
        ("GET", "getEntityByName") => {
            let (parent, name, kind) =
                (num("parentId").unwrap_or(0), request.param("name"), request.param("type"));
            match state.entities.iter().find(|e| {
                e.parent == parent
                    && Some(e.name.as_str()) == name.as_deref()
                    && Some(e.kind) == kind.as_deref()
            }) {
                Some(e) => Reply::json(200, as_json(e)),
                None => Reply::json(200, json!({"id": 0, "name": null, "type": null, "properties": null})),
            }
        }
        ("GET", "getEntities") => {
            let (parent, kind) = (num("parentId").unwrap_or(0), request.param("type"));
            let (start, count) = (num("start").unwrap_or(0) as usize, num("count").unwrap_or(10) as usize);
            let list: Vec<Value> = state
                .entities
                .iter()
                .filter(|e| e.parent == parent && Some(e.kind) == kind.as_deref())
                .skip(start)
                .take(count)
                .map(as_json)
                .collect();
            Reply::json(200, Value::Array(list))
        }
        ("POST", "addEntity") => {
            let parent = num("parentId").unwrap_or(0);
            if !state.entities.iter().any(|e| e.id == parent && e.kind == "Zone") {
                return Reply::json(500, json!("Parent is not a zone"));
            }
            let body: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
            let properties = body["properties"].as_str().unwrap_or_default().to_string();
            let (Some(absolute), Some(txt), Some(ttl)) = (
                property(&properties, "absoluteName"),
                property(&properties, "txt"),
                property(&properties, "ttl").and_then(|t| t.parse::<u32>().ok()),
            ) else {
                return Reply::json(400, json!("Invalid properties"));
            };
            let zone = state.absolute(parent);
            let name = body["name"].as_str().unwrap_or_default();
            if body["type"] != "TXTRecord" || format!("{name}.{zone}") != absolute || ttl == 0 {
                return Reply::json(400, json!(format!("Invalid TXT record {name} in {zone}")));
            }
            let id = state.add(parent, name, "TXTRecord", &properties);
            state.pending.push((parent, Change::add(format!("{absolute}."), txt)));
            Reply::text(200, "application/json", id.to_string())
        }
        ("DELETE", "delete") => {
            let id = num("objectId").unwrap_or(0);
            let Some(at) = state.entities.iter().position(|e| e.id == id) else {
                return Reply::json(404, json!("Object not found"));
            };
            let gone = state.entities.remove(at);
            if gone.kind == "TXTRecord" {
                let absolute = property(&gone.properties, "absoluteName").unwrap_or_default();
                let txt = property(&gone.properties, "txt").unwrap_or_default();
                state.pending.push((gone.parent, Change::remove(format!("{absolute}."), txt)));
            }
            Reply::text(200, "application/json", "")
        }
        ("POST", "quickDeploy") => {
            let zone = num("entityId").unwrap_or(0);
            state.deploys += 1;
            let (now, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut state.pending).into_iter().partition(|(z, _)| *z == zone);
            state.pending = later;
            Reply::text(201, "application/json", "").with(now.into_iter().map(|(_, c)| c))
        }
        _ => Reply::json(404, json!("Unknown method")),
    }
}

/// A configuration `Main`, its view `External`, and the zones given as label paths.
async fn fake(zones: &[&[&str]], bind: Option<Rfc2136>) -> FakeApi<State> {
    let mut state = State::default();
    let config = state.add(0, "Main", "Configuration", "");
    let view = state.add(config, "External", "View", "");
    for labels in zones {
        let mut parent = view;
        for label in labels.iter() {
            parent = match state
                .entities
                .iter()
                .find(|e| e.parent == parent && e.name == *label && e.kind == "Zone")
            {
                Some(e) => e.id,
                None => state.add(parent, label, "Zone", "deployable=true|"),
            };
        }
    }
    FakeApi::start(state, bind, route).await
}

fn values(state: &State, name: &str) -> Vec<String> {
    state
        .entities
        .iter()
        .filter(|e| e.kind == "TXTRecord")
        .filter(|e| {
            property(&e.properties, "absoluteName")
                .is_some_and(|a| format!("{a}.").eq_ignore_ascii_case(name))
        })
        .filter_map(|e| property(&e.properties, "txt"))
        .collect()
}

fn adapter(url: &str, password: &str) -> BlueCat {
    BlueCat::new(url, USER, &Secret::new(password), "Main", "External", true, Duration::from_secs(5)).unwrap()
}

const NAME: &str = "_acme-challenge.gradient.example.com.";

/// The conformance suite against the contract fake, with another tool's TXT record at the
/// same name that must survive; refused credentials; busy answers; every session logged out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bluecat_conformance() {
    let api = fake(&[&["com", "example"], &["org", "example"]], None).await;
    {
        let mut state = api.state();
        let zone = state.entities.iter().find(|e| e.kind == "Zone" && e.name == "example").unwrap().id;
        state.add(
            zone,
            "_acme-challenge.gradient",
            "TXTRecord",
            "ttl=300|absoluteName=_acme-challenge.gradient.example.com|txt=someone-elses-value|",
        );
    }
    let subject = conformance::Subject {
        provider: adapter(&api.url, PASSWORD),
        fqdn: NAME.to_string(),
        zone: None,
        read: api.reader(values),
        secrets: vec![PASSWORD.into()],
    };
    conformance::records(&subject).await;
    assert_eq!(values(&api.state(), NAME), ["someone-elses-value"], "another record changed");
    assert!(api.state().pending.is_empty(), "a change was not deployed");
    assert!(api.state().tokens.is_empty(), "a session was not logged out");
    conformance::auth_failure(
        &adapter(&api.url, "wrong-password"),
        NAME,
        &None,
        "password",
        &["wrong-password".into(), PASSWORD.into()],
    )
    .await;
    conformance::busy_is_retried(|url: &str| adapter(url, PASSWORD), &api.upstream(), NAME, &None).await;
    let p = adapter(&api.url, PASSWORD);
    let err = p.present(&conformance::record("_acme-challenge.example.net.", &None, "v")).await.unwrap_err();
    assert!(matches!(err, ProviderError::ZoneNotFound { .. }), "{err}");
    let wrong_view = BlueCat::new(
        &api.url,
        USER,
        &Secret::new(PASSWORD),
        "Main",
        "Internal",
        true,
        Duration::from_secs(5),
    )
    .unwrap();
    let err = wrong_view.present(&conformance::record(NAME, &None, "v")).await.unwrap_err();
    assert!(err.to_string().contains("dns_view"), "{err}");
}

/// The installer's settings reach the adapter.
#[test]
fn bluecat_installer_settings() {
    let text = fake_api::config_with(
        r#"[dns.installer]
provider = "bluecat"
settings = { BLUECAT_SERVER_URL = "https://bam.example.com", BLUECAT_USER_NAME = "api", BLUECAT_PASSWORD_FILE = "/etc/wildcert/bluecat.password", BLUECAT_CONFIG_NAME = "Main", BLUECAT_DNS_VIEW = "External", BLUECAT_SKIP_DEPLOY = "true", BLUECAT_TTL = "120" }
"#,
    );
    let config = Config::parse(std::path::Path::new("wildcert.toml"), &text).unwrap();
    fake_api::assert_warned(&config.warnings, "BLUECAT_TTL has no effect");
    let wildcert::dns::provider::ProviderConfig::BlueCat(cfg) = &config.dns["installer"].config else {
        panic!("not bluecat")
    };
    assert_eq!(cfg.dns_view.as_deref(), Some("External"));
    assert!(cfg.skip_deploy);
    let err =
        Config::parse(std::path::Path::new("w.toml"), &text.replace("BLUECAT_DNS_VIEW = \"External\", ", ""))
            .unwrap_err()
            .to_string();
    assert!(err.contains("dns_view"), "{err}");
}

/// `wildcert issue` through the fake: quick deploys reach BIND over RFC 2136, Pebble
/// validates by asking BIND, and no TXT is left afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bluecat_issue_through_pebble_validating_bind() {
    let stack = fake_api::issuance_stack();
    let api = fake(&[&["com", "example", "gradient"]], Some(fake_api::bind_mirror(&stack))).await;
    let password_file = fake_api::secret_file(&stack, "bluecat.password", PASSWORD);
    let table = format!(
        "provider = \"bluecat\"\nserver_url = \"{}\"\nuser_name = \"{USER}\"\npassword_file = \"{}\"\nconfig_name = \"Main\"\ndns_view = \"External\"",
        api.url,
        password_file.display()
    );
    fake_api::issue_through(&stack, &table, &[PASSWORD]);
    assert!(values(&api.state(), NAME).is_empty());
    assert!(api.state().deploys >= 4, "{}", api.state().deploys);
}
