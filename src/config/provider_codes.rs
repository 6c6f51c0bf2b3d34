//! The DNS provider codes operators bring from the Gradient installer: lego's codes of the
//! Traefik 1.x era (`dns-provider-codes.txt` next to this file is the installer's list), with
//! the names lego later gave some of them, and for codes without a built-in adapter the
//! installer's environment variable names (for the refusal message). Whether a code is built
//! in is the registry's business (`dns/registry.rs`): a built-in adapter declares its own
//! name, later names and lego variables, so this table does not change when one is added.
//!
//! `manual` is deliberately not built in: lego's manual mode prints the record and waits for
//! someone to press Enter, and a renewal daemon has no one to ask. A script (`exec`) or an
//! HTTP hook (`httpreq`) that notifies a person covers that case.

/// One provider code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderCode {
    /// The code as the installer knew it.
    pub code: &'static str,
    /// Later lego names for the same provider, accepted as well.
    pub aliases: &'static [&'static str],
    /// The provider's name, for people.
    pub name: &'static str,
    /// The installer's environment variable names, for codes without a built-in adapter
    /// (a built-in adapter declares its own).
    pub settings: &'static [&'static str],
}

impl ProviderCode {
    /// The built-in adapter serving this code, if this build has one.
    pub fn builtin(&self) -> Option<&'static crate::dns::provider::Builtin> {
        crate::dns::provider::find(self.code)
    }
}

const fn code(code: &'static str, name: &'static str) -> ProviderCode {
    ProviderCode { code, aliases: &[], name, settings: &[] }
}

/// Every code, in the installer's order.
pub const PROVIDER_CODES: &[ProviderCode] = &[
    ProviderCode {
        settings: &["ACME_DNS_API_BASE", "ACME_DNS_STORAGE_PATH"],
        ..code("acme-dns", "ACME-DNS")
    },
    code("alidns", "Alibaba Cloud DNS"),
    code("auroradns", "Aurora DNS"),
    ProviderCode { aliases: &["azuredns"], ..code("azure", "Azure DNS") },
    code("bindman", "Bindman"),
    code("bluecat", "Bluecat Address Manager"),
    code("cloudns", "ClouDNS"),
    code("cloudflare", "Cloudflare"),
    code("cloudxns", "CloudXNS"),
    code("conoha", "ConoHa"),
    ProviderCode { settings: &["DO_AUTH_TOKEN"], ..code("digitalocean", "DigitalOcean") },
    code("dnsimple", "DNSimple"),
    code("dnsmadeeasy", "DNS Made Easy"),
    code("dnspod", "DNSPod"),
    code("dode", "Domain Offensive (do.de)"),
    code("dreamhost", "DreamHost"),
    code("duckdns", "Duck DNS"),
    code("dyn", "Dyn"),
    code("easydns", "EasyDNS"),
    code("exec", "External program"),
    code("exoscale", "Exoscale"),
    ProviderCode { aliases: &["edgedns"], ..code("fastdns", "Akamai FastDNS (now Edge DNS)") },
    code("gandi", "Gandi"),
    code("gandiv5", "Gandi Live DNS (v5)"),
    code("glesys", "Glesys"),
    code("godaddy", "GoDaddy"),
    ProviderCode {
        settings: &["GCE_PROJECT", "GCE_SERVICE_ACCOUNT_FILE"],
        ..code("gcloud", "Google Cloud DNS")
    },
    code("hostingde", "Hosting.de"),
    code("httpreq", "HTTP request"),
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
    code("pdns", "PowerDNS Authoritative"),
    code("rackspace", "Rackspace"),
    code("rfc2136", "RFC 2136 dynamic update (BIND, Knot, PowerDNS, Windows DNS)"),
    code("route53", "Amazon Route 53"),
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
    let mut codes: Vec<&str> = crate::dns::provider::builtins().iter().map(|b| b.code).collect();
    codes.sort_unstable();
    codes
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
    let pass_on = if entry.settings.is_empty() {
        String::new()
    } else {
        format!(
            "; the installer's settings ({}) reach a script through its environment",
            entry.settings.join(", ")
        )
    };
    format!(
        "{what}: drive its API from a script with provider = \"exec\" (program = \"/path/to/script\", run as `script present|cleanup FQDN VALUE`) or an HTTP endpoint with provider = \"httpreq\" (endpoint = \"https://...\", which receives POST /present and /cleanup with {{\"fqdn\", \"value\"}}){pass_on}. Built in: {}",
        built_in_codes().join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert_dns_api::spec::{Kind, Target};

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
            if crate::dns::provider::left_out().iter().any(|(c, _)| c == code) {
                continue;
            }
            for env in envs {
                let known = match entry.builtin() {
                    Some(builtin) => builtin.env_target(env).is_some(),
                    None => entry.settings.contains(env),
                };
                assert!(known, "{code}: {env} from the installer's list is missing");
            }
        }
    }

    #[test]
    fn built_in_adapters_and_unique_names() {
        let built_in = built_in_codes();
        for code in ["cloudflare", "exec", "httpreq", "pdns", "rfc2136"] {
            assert!(built_in.contains(&code), "{built_in:?}");
        }
        assert_eq!(built_in.contains(&"route53"), cfg!(feature = "route53"));
        assert!(built_in.is_sorted());
        let mut names: Vec<&str> = PROVIDER_CODES
            .iter()
            .flat_map(|p| std::iter::once(p.code).chain(p.aliases.iter().copied()))
            .collect();
        // A built-in adapter's later names must not collide with another code either.
        for builtin in crate::dns::provider::builtins() {
            // Listed already: as its own code, or as the later name of an installer code this
            // very adapter serves (`azuredns` for the installer's `azure`).
            let listed = lookup(builtin.code).is_some_and(|p| {
                p.code == builtin.code || p.builtin().is_some_and(|b| b.code == builtin.code)
            });
            if !listed {
                names.push(builtin.code);
            }
            for alias in builtin.aliases {
                if lookup(alias).is_none() {
                    names.push(alias);
                }
            }
        }
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all, "codes and aliases must be unique");
    }

    /// lego's Cloudflare names, the installer's and the later token ones, reach the adapter's
    /// keys; secrets take lego's `_FILE` form through `Kind::Secret`.
    #[test]
    fn cloudflare_settings_reach_the_adapter() {
        let entry = lookup("cloudflare").unwrap().builtin().unwrap();
        for (env, expected) in [
            ("CF_API_EMAIL", Target::Key("email", Kind::Text)),
            ("CF_API_KEY", Target::Key("api_key", Kind::Secret)),
            ("CF_DNS_API_TOKEN", Target::Key("api_token", Kind::Secret)),
            ("CF_ZONE_API_TOKEN", Target::Key("zone_api_token", Kind::Secret)),
            ("CLOUDFLARE_HTTP_TIMEOUT", Target::Key("timeout", Kind::Seconds)),
        ] {
            assert_eq!(entry.env_target(env), Some((expected, false)), "{env}");
        }
        assert_eq!(
            entry.env_target("CF_DNS_API_TOKEN_FILE"),
            Some((Target::Key("api_token", Kind::Secret), true))
        );
        assert!(matches!(entry.env_target("CLOUDFLARE_TTL").unwrap().0, Target::Ignored(_)));
    }

    #[test]
    fn later_names_are_accepted() {
        assert_eq!(lookup("edgedns").unwrap().code, "fastdns");
        assert_eq!(lookup("AzureDNS").unwrap().code, "azure");
        assert_eq!(lookup("Route53").unwrap().code, "route53");
        assert_eq!(lookup("cloudflare").unwrap().builtin().map(|b| b.code), Some("cloudflare"));
        assert!(lookup("manual").unwrap().builtin().is_none());
        assert!(lookup("nosuchdns").is_none());
    }

    #[test]
    fn refusal_names_provider_and_bridges() {
        // An entry made up here, so that the test holds whichever adapters get built in.
        let entry = ProviderCode { settings: &["EXAMPLE_TOKEN"], ..code("exampledns", "Example DNS") };
        let text = refusal(&entry, "exampledns");
        assert!(text.starts_with("exampledns (Example DNS) has no built-in adapter yet"), "{text}");
        assert!(text.contains("provider = \"exec\"") && text.contains("provider = \"httpreq\""), "{text}");
        assert!(text.contains("EXAMPLE_TOKEN"), "{text}");
        assert!(text.contains(&format!("Built in: {}", built_in_codes().join(", "))), "{text}");
        let text = refusal(lookup("edgedns").unwrap(), "edgedns");
        assert!(
            text.starts_with("edgedns (Akamai FastDNS (now Edge DNS), installer code fastdns)"),
            "{text}"
        );
        let text = refusal(lookup("manual").unwrap(), "manual");
        assert!(text.contains("press Enter"), "{text}");
    }
}
