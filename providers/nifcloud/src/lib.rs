//! NIFCLOUD DNS: add and remove one TXT value through its Route53-shaped XML API (version
//! `2012-12-12N2013-12-16`), where the hosted zone's ID is its name and each value is its own
//! record. Every request carries `Date` and `X-Nifty-Authorization: NIFTY3-HTTPS
//! NiftyAccessKeyId=<key>,Algorithm=HmacSHA1,Signature=<base64 HMAC-SHA1 of the Date value
//! under the secret key>`. The zone is the first of the name's candidates that
//! `GET /hostedzone/{zone}` knows; `GET .../rrset?name=&type=TXT` shows whether our value is
//! there; `POST .../rrset` with a `CREATE` or `DELETE` change of exactly our value changes it,
//! and `GET /change/{id}` is polled until the change is `INSYNC`. Calls on one name are
//! serialized inside the adapter. See README.md.
//!
//! API reference: <https://docs.nifcloud.com/cp/api/dns/> (ListResourceRecordSets,
//! ChangeResourceRecordSets, GetChange, GetHostedZone; the common request headers and the
//! error answer `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`).

#![warn(missing_docs)]

use wildcert_dns_http::xml;

use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderName;
use http::{HeaderValue, Method};
use serde::Deserialize;
use wildcert_dns_api::spec::{
    Checks, EnvName, Kind, POLLING, PROPAGATION, ProviderSpec, SecretReader, SecretSource, SettingError, TTL,
    check_http, env, ignored, read_required, required,
};
use wildcert_dns_api::{DnsProvider, NameLocks, ProviderError, Secret, TxtRecord, txt_text};
use wildcert_dns_http::sign::{Hash, base64, hmac};
use wildcert_dns_http::zone::candidates;
use wildcert_dns_http::{
    Api, Body, HttpClient, JobWait, Response, Retry, StatusClass, classify, default_timeout, encode, excerpt,
    redact,
};

/// Where the API lives.
pub const DEFAULT_API_URL: &str = "https://dns.api.nifcloud.com";

/// The API version, the first segment of every path.
const VERSION: &str = "2012-12-12N2013-12-16";

/// The namespace of request bodies (Route53's).
const XMLNS: &str = "https://route53.amazonaws.com/doc/2012-12-12/";

/// The shortest TTL the adapter writes.
pub const MIN_TTL: u32 = 60;

/// How long a change may stay `PENDING` before it is reported as timed out.
const CHANGE_DEADLINE: Duration = Duration::from_secs(120);

const AUTH_HINT: &str = "check access_key and secret_key (lego: NIFCLOUD_ACCESS_KEY_ID, NIFCLOUD_SECRET_ACCESS_KEY) \
     and this host's clock";

/// NIFCLOUD's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NifcloudConfig {
    /// The access key ID.
    pub access_key: Option<SecretSource>,
    /// The secret access key, which signs every request.
    pub secret_key: Option<SecretSource>,
    /// Base URL of the DNS API (without the version).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Timeout of one API request.
    #[serde(default = "default_timeout", deserialize_with = "wildcert_dns_api::spec::duration")]
    pub timeout: Duration,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.into()
}

/// The NIFCLOUD DNS adapter. Cheap to clone; clones share connections and serialization.
#[derive(Clone)]
pub struct Nifcloud {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    /// The same client as `api`'s, for requests with an XML body (`Api` sends JSON and
    /// forms only).
    client: HttpClient,
    key: Secret,
    secret: Secret,
    locks: NameLocks,
}

impl std::fmt::Debug for Nifcloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nifcloud").field("api", &self.inner.api).finish_non_exhaustive()
    }
}

/// `Date` in the HTTP (RFC 1123) form, GMT.
fn http_date() -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc().format(&format).expect("a UTC time formats")
}

/// The `X-Nifty-Authorization` value for a request sent with `date`.
pub fn authorization(key: &str, secret: &str, date: &str) -> String {
    let signature = base64(&hmac(Hash::Sha1, secret.as_bytes(), date.as_bytes()));
    format!("NIFTY3-HTTPS NiftyAccessKeyId={key},Algorithm=HmacSHA1,Signature={signature}")
}

/// The body of a change of one TXT value.
fn change_body(action: &str, name: &str, value: &str, ttl: u32) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsRequest xmlns=\"{XMLNS}\"><ChangeBatch><Comment>wildcert</Comment><Changes><Change><Action>{action}</Action><ResourceRecordSet><Name>{}</Name><Type>TXT</Type><TTL>{ttl}</TTL><ResourceRecords><ResourceRecord><Value>{}</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>",
        xml::escape(name),
        xml::escape(value)
    )
}

impl Nifcloud {
    /// Prepares the client; no network I/O.
    pub fn new(
        api_url: &str,
        key: &Secret,
        secret: &Secret,
        timeout: Duration,
    ) -> Result<Nifcloud, ProviderError> {
        let provider = format!("nifcloud ({})", api_url.trim().trim_end_matches('/'));
        let client = HttpClient::new(timeout, None)
            .map_err(|detail| ProviderError::Config { provider: provider.clone(), detail })?;
        let api = Api::new(&provider, api_url, client.clone())?
            .require("access_key", key)?
            .require("secret_key", secret)?
            .with_redacted(key)
            .with_redacted(secret);
        Ok(Nifcloud {
            inner: Arc::new(Inner {
                api,
                client,
                key: key.clone(),
                secret: secret.clone(),
                locks: NameLocks::default(),
            }),
        })
    }

    fn provider(&self) -> String {
        self.inner.api.provider().to_string()
    }

    /// One signed call; `path` is below the version.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Response, ProviderError> {
        let date = http_date();
        let auth = authorization(self.inner.key.expose().trim(), self.inner.secret.expose().trim(), &date);
        let mut auth = HeaderValue::from_str(&auth).map_err(|_| ProviderError::Config {
            provider: self.provider(),
            detail: "access_key contains characters an HTTP header cannot carry".into(),
        })?;
        auth.set_sensitive(true);
        let path = format!("/{VERSION}{path}");
        let Some(text) = body else {
            let extra = [
                (http::header::DATE, HeaderValue::from_str(&date).expect("a date is a header value")),
                (HeaderName::from_static("x-nifty-authorization"), auth),
            ];
            return self.inner.api.call(method, &path, &Body::Empty, &extra).await;
        };
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.inner.api.base()))
            .header(http::header::ACCEPT, "text/xml")
            .header(http::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header(http::header::DATE, &date)
            .header("x-nifty-authorization", auth)
            .body(bytes::Bytes::from(text))
            .map_err(|e| ProviderError::Config {
                provider: self.provider(),
                detail: format!("cannot build a request: {e}"),
            })?;
        let response = self.inner.client.send_retrying(&self.provider(), request, Retry::default()).await?;
        Ok(response)
    }

    /// A successful answer's elements, or the error the answer describes.
    fn read(&self, action: &str, response: &Response) -> Result<Vec<xml::Element>, ProviderError> {
        let api = &self.inner.api;
        let text = String::from_utf8_lossy(&response.body);
        let parsed = xml::elements(&text);
        if parsed.is_err() && classify(response.status) != StatusClass::Success {
            // Not the API's own error document (a proxy's, a load balancer's): judge the status.
            return Err(api.error(action, response, AUTH_HINT));
        }
        let elements = parsed.map_err(|e| ProviderError::Rejected {
            provider: self.provider(),
            detail: format!(
                "{action}: HTTP {}: the answer is not the XML this API documents ({e}): {}; is api_url the API's base URL?",
                response.status,
                excerpt(&response.body, &api.secrets())
            ),
        })?;
        if classify(response.status) == StatusClass::Success {
            return Ok(elements);
        }
        let field = |name: &str| {
            elements
                .iter()
                .find(|e| e.name == name && e.in_("Error"))
                .map(|e| e.text.clone())
                .unwrap_or_default()
        };
        let (code, message) = (field("Code"), field("Message"));
        let detail =
            redact(&format!("{action}: HTTP {}: {code}: {message}", response.status), &api.secrets());
        let provider = self.provider();
        Err(match classify(response.status) {
            StatusClass::Auth => ProviderError::Auth { provider, detail: format!("{detail}; {AUTH_HINT}") },
            _ if code.contains("AccessKey") || code.contains("Signature") || code.contains("AuthFailure") => {
                ProviderError::Auth { provider, detail: format!("{detail}; {AUTH_HINT}") }
            }
            StatusClass::Temporary => ProviderError::Temporary { provider, detail, retry_after: None },
            _ => ProviderError::Rejected { provider, detail },
        })
    }

    /// The hosted zone holding the record.
    async fn zone_for(&self, record: &TxtRecord) -> Result<String, ProviderError> {
        let names = candidates(record);
        for name in &names {
            let path = format!("/hostedzone/{}", encode(name));
            let response = self.call(Method::GET, &path, None).await?;
            if classify(response.status) == StatusClass::NotFound {
                continue;
            }
            self.read(&format!("GET {path}"), &response)?;
            return Ok(name.clone());
        }
        Err(ProviderError::ZoneNotFound {
            provider: self.provider(),
            fqdn: record.fqdn.clone(),
            detail: format!("the account has none of the hosted zones {}", names.join(", ")),
        })
    }

    /// The TXT values at `name` in `zone`.
    async fn values(&self, zone: &str, name: &str) -> Result<Vec<String>, ProviderError> {
        let path = format!("/hostedzone/{}/rrset?name={}&type=TXT&maxitems=100", encode(zone), encode(name));
        let response = self.call(Method::GET, &path, None).await?;
        let elements = self.read(&format!("GET /hostedzone/{zone}/rrset"), &response)?;
        // Document order: each set's Name and Type come before its values.
        let (mut set_name, mut set_type, mut out) = (String::new(), String::new(), Vec::new());
        for e in &elements {
            match e.name.as_str() {
                "Name" if e.in_("ResourceRecordSet") => {
                    set_name = e.text.trim().trim_end_matches('.').to_string()
                }
                "Type" if e.in_("ResourceRecordSet") => set_type = e.text.trim().to_string(),
                "Value" if e.in_("ResourceRecord") => {
                    let at_name = set_name.eq_ignore_ascii_case(name)
                        || (name == "@" && set_name.eq_ignore_ascii_case(zone));
                    if at_name && set_type.eq_ignore_ascii_case("TXT") {
                        out.push(txt_text(&e.text));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Waits until the change is `INSYNC`.
    async fn settle(&self, elements: Vec<xml::Element>) -> Result<(), ProviderError> {
        let field = |elements: &[xml::Element], name: &str| {
            elements.iter().find(|e| e.name == name && e.in_("ChangeInfo")).map(|e| e.text.trim().to_string())
        };
        let id = field(&elements, "Id").unwrap_or_default();
        let id = id.rsplit('/').next().unwrap_or_default().to_string();
        let mut status = field(&elements, "Status").unwrap_or_default();
        let mut wait = JobWait::new(CHANGE_DEADLINE, Duration::from_millis(250), Duration::from_secs(4));
        while status != "INSYNC" {
            if id.is_empty() {
                return Err(ProviderError::Rejected {
                    provider: self.provider(),
                    detail: "the change answer names no ChangeInfo Id".into(),
                });
            }
            if !wait.pause().await {
                return Err(ProviderError::Timeout {
                    provider: self.provider(),
                    after: wait.limit(),
                    detail: format!("change {id} is still {status}"),
                });
            }
            let path = format!("/change/{}", encode(&id));
            let response = self.call(Method::GET, &path, None).await?;
            let elements = self.read(&format!("GET {path}"), &response)?;
            status = field(&elements, "Status").unwrap_or_default();
        }
        Ok(())
    }

    async fn change(&self, record: &TxtRecord, add: bool) -> Result<(), ProviderError> {
        let _guard = self.inner.locks.lock(&record.fqdn).await;
        let zone = self.zone_for(record).await?;
        let fqdn = record.fqdn_without_dot().to_ascii_lowercase();
        let name = if fqdn == zone { "@".to_string() } else { fqdn };
        let present = self.values(&zone, &name).await?.contains(&record.value);
        let action = match (add, present) {
            (true, false) => "CREATE",
            (false, true) => "DELETE",
            _ => {
                tracing::debug!(fqdn = %record.fqdn, add, "nifcloud: nothing to change");
                return Ok(());
            }
        };
        let path = format!("/hostedzone/{}/rrset", encode(&zone));
        let body = change_body(action, &name, &record.value, record.ttl.max(MIN_TTL));
        let response = self.call(Method::POST, &path, Some(body)).await?;
        let elements = self.read(&format!("POST {path} ({action})"), &response)?;
        self.settle(elements).await?;
        tracing::debug!(fqdn = %record.fqdn, zone, action, "nifcloud: change in sync");
        Ok(())
    }
}

impl DnsProvider for Nifcloud {
    fn describe(&self) -> String {
        self.provider()
    }

    async fn present(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.change(record, true).await
    }

    async fn cleanup(&self, record: &TxtRecord) -> Result<(), ProviderError> {
        self.change(record, false).await
    }
}

impl ProviderSpec for Nifcloud {
    type Config = NifcloudConfig;
    const CODE: &'static str = "nifcloud";
    const NAME: &'static str = "NIFCLOUD DNS";
    const SECRETS: &'static [&'static str] = &["access_key", "secret_key"];
    const ENV: &'static [EnvName] = &[
        env("NIFCLOUD_ACCESS_KEY_ID", "access_key", Kind::Secret),
        env("NIFCLOUD_SECRET_ACCESS_KEY", "secret_key", Kind::Secret),
        env("NIFCLOUD_DNS_ENDPOINT", "api_url", Kind::Text),
        env("NIFCLOUD_HTTP_TIMEOUT", "timeout", Kind::Seconds),
        ignored("NIFCLOUD_TTL", TTL),
        ignored("NIFCLOUD_PROPAGATION_TIMEOUT", PROPAGATION),
        ignored("NIFCLOUD_POLLING_INTERVAL", POLLING),
    ];
    const PERMISSIONS: &'static str = "an access key of a user allowed to change the DNS zones";
    const NOTES: &'static str = "one record per value; each change is awaited until INSYNC";

    fn check(config: &NifcloudConfig, checks: &mut dyn Checks) -> Result<(), SettingError> {
        required(&config.access_key, "access_key")?;
        required(&config.secret_key, "secret_key")?;
        check_http(checks, &config.api_url, config.timeout)
    }

    fn build(config: &NifcloudConfig, secrets: &mut dyn SecretReader) -> Result<Nifcloud, ProviderError> {
        let key = read_required(secrets, "nifcloud", "access_key", &config.access_key)?;
        let secret = read_required(secrets, "nifcloud", "secret_key", &config.secret_key)?;
        Nifcloud::new(&config.api_url, &key, &secret, config.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2202 test case 2 gives the signature of the date "what do ya want for nothing?"
    /// under "Jefe".
    #[test]
    fn signs_the_date() {
        assert_eq!(
            authorization("AK", "Jefe", "what do ya want for nothing?"),
            "NIFTY3-HTTPS NiftyAccessKeyId=AK,Algorithm=HmacSHA1,Signature=7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
        let date = http_date();
        assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
        let body = change_body("CREATE", "_acme-challenge.example.com", "v<&", 60);
        assert!(
            body.contains("<Name>_acme-challenge.example.com</Name>")
                && body.contains("<Value>v&lt;&amp;</Value>")
        );
        let p =
            Nifcloud::new(DEFAULT_API_URL, &Secret::new("AKid"), &Secret::new("s3c"), Duration::from_secs(5))
                .unwrap();
        assert!(!format!("{p:?}").contains("s3c"));
    }
}
