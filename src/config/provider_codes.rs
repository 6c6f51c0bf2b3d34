//! The DNS provider codes operators bring from the Gradient installer: lego's codes of the
//! Traefik 1.x era (`dns-provider-codes.txt` next to this file is the installer's list), with
//! the names lego later gave some of them. For each: the built-in adapter that serves it, or
//! none, and the provider's environment variable names, which `settings = { ... }` accepts
//! for built-in adapters and translates to TOML keys.
//!
//! `manual` is deliberately not built in: lego's manual mode prints the record and waits for
//! someone to press Enter, and a renewal daemon has no one to ask. A script (`exec`) or an
//! HTTP hook (`httpreq`) that notifies a person covers that case.

/// The built-in adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    Rfc2136,
    Route53,
    Pdns,
    Cloudflare,
    Exec,
    Httpreq,
}

impl Adapter {
    /// The canonical `provider = "..."` code.
    pub fn code(self) -> &'static str {
        match self {
            Adapter::Rfc2136 => "rfc2136",
            Adapter::Route53 => "route53",
            Adapter::Pdns => "pdns",
            Adapter::Cloudflare => "cloudflare",
            Adapter::Exec => "exec",
            Adapter::Httpreq => "httpreq",
        }
    }

    /// Every TOML key of the adapter's `[dns.NAME]` table besides `provider` and `settings`.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Adapter::Rfc2136 => &[
                "nameserver",
                "tsig_key",
                "tsig_algorithm",
                "tsig_secret",
                "tsig_secret_file",
                "tsig_secret_env",
                "zone",
                "timeout",
            ],
            Adapter::Route53 => &[
                "region",
                "hosted_zone_id",
                "profile",
                "access_key_id",
                "secret_access_key",
                "secret_access_key_file",
                "secret_access_key_env",
                "session_token",
                "session_token_file",
                "session_token_env",
                "endpoint",
                "change_timeout",
                "request_timeout",
                "max_retries",
            ],
            Adapter::Pdns => &[
                "api_url",
                "api_key",
                "api_key_file",
                "api_key_env",
                "server_id",
                "zone",
                "timeout",
                "ca_certificates",
            ],
            Adapter::Cloudflare => &[
                "api_token",
                "api_token_file",
                "api_token_env",
                "zone_api_token",
                "zone_api_token_file",
                "zone_api_token_env",
                "email",
                "api_key",
                "api_key_file",
                "api_key_env",
                "zone_id",
                "api_url",
                "timeout",
            ],
            Adapter::Exec => &["program", "mode", "timeout"],
            Adapter::Httpreq => &[
                "endpoint",
                "mode",
                "username",
                "password",
                "password_file",
                "password_env",
                "timeout",
                "ca_certificates",
            ],
        }
    }

    /// Whether this build contains the adapter (Route53 is a cargo feature).
    pub fn compiled_in(self) -> bool {
        self != Adapter::Route53 || cfg!(feature = "route53")
    }
}

/// How a provider environment variable's value becomes the adapter's TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Copied as a string.
    Text,
    /// A secret, copied to the key inline (with a warning); `<NAME>_FILE`, lego's file
    /// variant, maps to `<key>_file`.
    Secret,
    /// lego's whole seconds (`"60"`) become a duration (`"60s"`); a value with a unit is
    /// kept as written.
    Seconds,
    /// A whole number.
    Number,
}

/// Where one environment variable goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// This TOML key of the adapter.
    Key(&'static str, Kind),
    /// Accepted for compatibility but without effect in wildcert, for the reason given.
    Ignored(&'static str),
}

/// One environment variable a provider understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub env: &'static str,
    /// For codes without a built-in adapter, only informative (`Ignored("")`).
    pub target: Target,
}

/// One provider code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderCode {
    /// The code as the installer knew it.
    pub code: &'static str,
    /// Later lego names for the same provider, accepted as well.
    pub aliases: &'static [&'static str],
    /// The provider's name, for people.
    pub name: &'static str,
    pub adapter: Option<Adapter>,
    pub settings: &'static [Setting],
}

impl ProviderCode {
    /// The setting an environment variable name stands for, if any.
    pub fn setting(&self, env: &str) -> Option<&'static Setting> {
        self.settings.iter().find(|s| s.env == env)
    }
}

const PROPAGATION: &str = "wildcert checks propagation itself; see [propagation] timeout";
const POLLING: &str = "wildcert polls the authoritative servers itself; see [propagation]";
const SEQUENCE: &str = "wildcert does not serialize challenges between names";
const TTL: &str = "wildcert sets a short challenge TTL itself";

const fn key(env: &'static str, key: &'static str, kind: Kind) -> Setting {
    Setting { env, target: Target::Key(key, kind) }
}

const fn ignored(env: &'static str, why: &'static str) -> Setting {
    Setting { env, target: Target::Ignored(why) }
}

/// An environment variable of a provider without a built-in adapter.
const fn known(env: &'static str) -> Setting {
    Setting { env, target: Target::Ignored("") }
}

const fn code(code: &'static str, name: &'static str) -> ProviderCode {
    ProviderCode { code, aliases: &[], name, adapter: None, settings: &[] }
}

/// Every code, in the installer's order.
pub const PROVIDER_CODES: &[ProviderCode] = &[
    ProviderCode {
        settings: &[known("ACME_DNS_API_BASE"), known("ACME_DNS_STORAGE_PATH")],
        ..code("acme-dns", "ACME-DNS")
    },
    code("alidns", "Alibaba Cloud DNS"),
    code("auroradns", "Aurora DNS"),
    ProviderCode { aliases: &["azuredns"], ..code("azure", "Azure DNS") },
    code("bindman", "Bindman"),
    code("bluecat", "Bluecat Address Manager"),
    code("cloudns", "ClouDNS"),
    ProviderCode {
        adapter: Some(Adapter::Cloudflare),
        settings: &[
            key("CF_API_EMAIL", "email", Kind::Text),
            key("CF_API_KEY", "api_key", Kind::Secret),
            key("CF_DNS_API_TOKEN", "api_token", Kind::Secret),
            key("CF_ZONE_API_TOKEN", "zone_api_token", Kind::Secret),
            key("CLOUDFLARE_HTTP_TIMEOUT", "timeout", Kind::Seconds),
            ignored("CLOUDFLARE_TTL", TTL),
            ignored("CLOUDFLARE_PROPAGATION_TIMEOUT", PROPAGATION),
            ignored("CLOUDFLARE_POLLING_INTERVAL", POLLING),
        ],
        ..code("cloudflare", "Cloudflare")
    },
    code("cloudxns", "CloudXNS"),
    code("conoha", "ConoHa"),
    ProviderCode { settings: &[known("DO_AUTH_TOKEN")], ..code("digitalocean", "DigitalOcean") },
    code("dnsimple", "DNSimple"),
    code("dnsmadeeasy", "DNS Made Easy"),
    code("dnspod", "DNSPod"),
    code("dode", "Domain Offensive (do.de)"),
    code("dreamhost", "DreamHost"),
    code("duckdns", "Duck DNS"),
    code("dyn", "Dyn"),
    code("easydns", "EasyDNS"),
    ProviderCode {
        adapter: Some(Adapter::Exec),
        settings: &[
            key("EXEC_PATH", "program", Kind::Text),
            key("EXEC_MODE", "mode", Kind::Text),
            ignored("EXEC_PROPAGATION_TIMEOUT", PROPAGATION),
            ignored("EXEC_POLLING_INTERVAL", POLLING),
            ignored("EXEC_SEQUENCE_INTERVAL", SEQUENCE),
        ],
        ..code("exec", "External program")
    },
    code("exoscale", "Exoscale"),
    ProviderCode { aliases: &["edgedns"], ..code("fastdns", "Akamai FastDNS (now Edge DNS)") },
    code("gandi", "Gandi"),
    code("gandiv5", "Gandi Live DNS (v5)"),
    code("glesys", "Glesys"),
    code("godaddy", "GoDaddy"),
    ProviderCode {
        settings: &[known("GCE_PROJECT"), known("GCE_SERVICE_ACCOUNT_FILE")],
        ..code("gcloud", "Google Cloud DNS")
    },
    code("hostingde", "Hosting.de"),
    ProviderCode {
        adapter: Some(Adapter::Httpreq),
        settings: &[
            key("HTTPREQ_ENDPOINT", "endpoint", Kind::Text),
            key("HTTPREQ_MODE", "mode", Kind::Text),
            key("HTTPREQ_USERNAME", "username", Kind::Text),
            key("HTTPREQ_PASSWORD", "password", Kind::Secret),
            key("HTTPREQ_HTTP_TIMEOUT", "timeout", Kind::Seconds),
            ignored("HTTPREQ_PROPAGATION_TIMEOUT", PROPAGATION),
            ignored("HTTPREQ_POLLING_INTERVAL", POLLING),
        ],
        ..code("httpreq", "HTTP request")
    },
    code("iij", "Internet Initiative Japan"),
    code("inwx", "INWX"),
    code("joker", "Joker.com"),
    code("lightsail", "Amazon Lightsail"),
    code("linode", "Linode (v3 API)"),
    code("linodev4", "Linode (v4 API)"),
    code("manual", "Manual (a person creates the record)"),
    code("mydnsjp", "MyDNS.JP"),
    code("namecheap", "Namecheap"),
    code("namesilo", "NameSilo"),
    code("namedotcom", "Name.com"),
    code("netcup", "Netcup"),
    code("nifcloud", "NIFCLOUD"),
    code("ns1", "NS1"),
    code("otc", "Open Telekom Cloud"),
    code("ovh", "OVH"),
    code("designate", "OpenStack Designate"),
    code("oraclecloud", "Oracle Cloud"),
    ProviderCode {
        adapter: Some(Adapter::Pdns),
        settings: &[
            key("PDNS_API_URL", "api_url", Kind::Text),
            key("PDNS_API_KEY", "api_key", Kind::Secret),
            key("PDNS_SERVER_NAME", "server_id", Kind::Text),
            key("PDNS_HTTP_TIMEOUT", "timeout", Kind::Seconds),
            ignored("PDNS_API_VERSION", "wildcert speaks API version 1 (PowerDNS 4.x)"),
            ignored("PDNS_TTL", TTL),
            ignored("PDNS_PROPAGATION_TIMEOUT", PROPAGATION),
            ignored("PDNS_POLLING_INTERVAL", POLLING),
        ],
        ..code("pdns", "PowerDNS Authoritative")
    },
    code("rackspace", "Rackspace"),
    ProviderCode {
        adapter: Some(Adapter::Rfc2136),
        settings: &[
            key("RFC2136_NAMESERVER", "nameserver", Kind::Text),
            key("RFC2136_TSIG_KEY", "tsig_key", Kind::Text),
            key("RFC2136_TSIG_SECRET", "tsig_secret", Kind::Secret),
            key("RFC2136_TSIG_ALGORITHM", "tsig_algorithm", Kind::Text),
            key("RFC2136_TIMEOUT", "timeout", Kind::Seconds),
            key("RFC2136_DNS_TIMEOUT", "timeout", Kind::Seconds),
            ignored("RFC2136_TTL", TTL),
            ignored("RFC2136_PROPAGATION_TIMEOUT", PROPAGATION),
            ignored("RFC2136_POLLING_INTERVAL", POLLING),
            ignored("RFC2136_SEQUENCE_INTERVAL", SEQUENCE),
        ],
        ..code("rfc2136", "RFC 2136 dynamic update (BIND, Knot, PowerDNS, Windows DNS)")
    },
    ProviderCode {
        adapter: Some(Adapter::Route53),
        settings: &[
            key("AWS_ACCESS_KEY_ID", "access_key_id", Kind::Text),
            key("AWS_SECRET_ACCESS_KEY", "secret_access_key", Kind::Secret),
            key("AWS_SESSION_TOKEN", "session_token", Kind::Secret),
            key("AWS_REGION", "region", Kind::Text),
            key("AWS_HOSTED_ZONE_ID", "hosted_zone_id", Kind::Text),
            key("AWS_PROFILE", "profile", Kind::Text),
            key("AWS_MAX_RETRIES", "max_retries", Kind::Number),
            ignored("AWS_SDK_LOAD_CONFIG", "the AWS config file is always read"),
            ignored("AWS_TTL", TTL),
            ignored("AWS_PROPAGATION_TIMEOUT", PROPAGATION),
            ignored("AWS_POLLING_INTERVAL", POLLING),
        ],
        ..code("route53", "Amazon Route 53")
    },
    code("sakuracloud", "Sakura Cloud"),
    code("selectel", "Selectel"),
    code("stackpath", "StackPath"),
    code("transip", "TransIP"),
    code("vegadns", "VegaDNS"),
    code("versio", "Versio"),
    code("vscale", "Vscale"),
    code("vultr", "Vultr"),
    code("zoneee", "Zone.ee"),
];

/// The entry for a code or one of its later names (case-insensitive).
pub fn lookup(code: &str) -> Option<&'static ProviderCode> {
    let code = code.trim().to_ascii_lowercase();
    PROVIDER_CODES.iter().find(|p| p.code == code || p.aliases.contains(&code.as_str()))
}

/// The codes of the built-in adapters, for messages.
pub fn built_in_codes() -> Vec<&'static str> {
    PROVIDER_CODES.iter().filter(|p| p.adapter.is_some()).map(|p| p.code).collect()
}

/// Why a code without a built-in adapter is refused, and what to do instead.
pub fn refusal(entry: &ProviderCode, written: &str) -> String {
    let named = if entry.code == written.trim().to_ascii_lowercase() {
        format!("{} ({})", entry.code, entry.name)
    } else {
        format!("{written} ({}, installer code {})", entry.name, entry.code)
    };
    let what = if entry.code == "manual" {
        format!(
            "{named} needs a person to create the record and press Enter, which a renewal daemon cannot wait for"
        )
    } else {
        format!("{named} has no built-in adapter yet")
    };
    let env: Vec<&str> = entry.settings.iter().map(|s| s.env).collect();
    let pass_on = if env.is_empty() {
        String::new()
    } else {
        format!("; the installer's settings ({}) reach a script through its environment", env.join(", "))
    };
    format!(
        "{what}: drive its API from a script with provider = \"exec\" (program = \"/path/to/script\", run as `script present|cleanup FQDN VALUE`) or an HTTP endpoint with provider = \"httpreq\" (endpoint = \"https://...\", which receives POST /present and /cleanup with {{\"fqdn\", \"value\"}}){pass_on}. Built in: {}",
        built_in_codes().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The installer's list, as shipped next to this file.
    const INSTALLER_LIST: &str = include_str!("dns-provider-codes.txt");

    fn installer_codes() -> Vec<(&'static str, Vec<&'static str>)> {
        INSTALLER_LIST
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| {
                let mut fields = l.split_whitespace();
                let code = fields.next().unwrap();
                let envs = fields
                    .filter(|f| f.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                    .collect();
                (code, envs)
            })
            .collect()
    }

    #[test]
    fn table_matches_the_installer_list() {
        let list = installer_codes();
        assert_eq!(list.len(), 60);
        let table: Vec<&str> = PROVIDER_CODES.iter().map(|p| p.code).collect();
        let listed: Vec<&str> = list.iter().map(|(c, _)| *c).collect();
        assert_eq!(table, listed, "the table must follow the installer's list, in order");
        for (code, envs) in &list {
            let entry = lookup(code).unwrap();
            for env in envs {
                assert!(entry.setting(env).is_some(), "{code}: {env} from the installer's list is missing");
            }
        }
    }

    #[test]
    fn built_in_adapters_and_unique_names() {
        assert_eq!(built_in_codes(), ["cloudflare", "exec", "httpreq", "pdns", "rfc2136", "route53"]);
        let mut names: Vec<&str> = PROVIDER_CODES
            .iter()
            .flat_map(|p| std::iter::once(p.code).chain(p.aliases.iter().copied()))
            .collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all, "codes and aliases must be unique");
        for p in PROVIDER_CODES {
            if let Some(adapter) = p.adapter {
                assert_eq!(adapter.code(), p.code);
            }
        }
    }

    /// lego's Cloudflare names, the installer's and the later token ones, reach the adapter's
    /// keys; secrets take lego's `_FILE` form through `Kind::Secret`.
    #[test]
    fn cloudflare_settings_reach_the_adapter() {
        let entry = lookup("cloudflare").unwrap();
        for (env, expected) in [
            ("CF_API_EMAIL", Target::Key("email", Kind::Text)),
            ("CF_API_KEY", Target::Key("api_key", Kind::Secret)),
            ("CF_DNS_API_TOKEN", Target::Key("api_token", Kind::Secret)),
            ("CF_ZONE_API_TOKEN", Target::Key("zone_api_token", Kind::Secret)),
            ("CLOUDFLARE_HTTP_TIMEOUT", Target::Key("timeout", Kind::Seconds)),
        ] {
            assert_eq!(entry.setting(env).map(|s| s.target), Some(expected), "{env}");
        }
        assert!(matches!(entry.setting("CLOUDFLARE_TTL").unwrap().target, Target::Ignored(_)));
    }

    #[test]
    fn later_names_are_accepted() {
        assert_eq!(lookup("edgedns").unwrap().code, "fastdns");
        assert_eq!(lookup("AzureDNS").unwrap().code, "azure");
        assert_eq!(lookup("Route53").unwrap().adapter, Some(Adapter::Route53));
        assert_eq!(lookup("cloudflare").unwrap().adapter, Some(Adapter::Cloudflare));
        assert!(lookup("nosuchdns").is_none());
    }

    #[test]
    fn refusal_names_provider_and_bridges() {
        let text = refusal(lookup("digitalocean").unwrap(), "digitalocean");
        assert!(text.starts_with("digitalocean (DigitalOcean) has no built-in adapter yet"), "{text}");
        assert!(text.contains("provider = \"exec\"") && text.contains("provider = \"httpreq\""), "{text}");
        assert!(text.contains("DO_AUTH_TOKEN"), "{text}");
        assert!(text.contains("Built in: cloudflare, exec"), "{text}");
        let text = refusal(lookup("edgedns").unwrap(), "edgedns");
        assert!(
            text.starts_with("edgedns (Akamai FastDNS (now Edge DNS), installer code fastdns)"),
            "{text}"
        );
        let text = refusal(lookup("manual").unwrap(), "manual");
        assert!(text.contains("press Enter"), "{text}");
    }
}
