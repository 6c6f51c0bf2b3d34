//! The DNS provider codes operators bring from the Gradient installer: lego's codes of the
//! Traefik 1.x era (`dns-provider-codes.txt` next to this file is the installer's list), the
//! names lego gave some of them later, and what became of each provider's service.
//!
//! Every code resolves to one [`Status`]:
//! - **native**: a built-in adapter serves it. That is the registry's business
//!   (`dns/registry.rs`): an adapter declares its code and later names, and a registry line
//!   wins over whatever this table says, so adding an adapter never touches this file;
//! - **routed**: the service moved to a new API or name ([`Fate::Routed`]); the code is
//!   accepted as its successor with a one-line warning, or refused while the successor has
//!   no adapter yet;
//! - **refused**: the service closed ([`Fate::Closed`], with the date and the nearest
//!   alternative), or it runs but has no adapter yet ([`Fate::NotBuilt`]), which says so
//!   and names the `exec` / `httpreq` bridges with lego's variable names.
//!
//! What was found about each provider, with its sources, is in `docs/providers.md` (generated
//! from this table and the registry).

use crate::dns::provider::{Builtin, builtins, left_out};

/// What became of a provider's service, as far as this table knows. A built-in adapter
/// overrides it (see [`status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The service runs; wildcert has no adapter for it yet.
    NotBuilt,
    /// The service moved: this code now means code `to`, for the reason given.
    Routed {
        /// The code that serves it now.
        to: &'static str,
        /// Why, for the message that tells the operator to switch.
        why: &'static str,
    },
    /// The service no longer exists.
    Closed {
        /// When the service closed, for the message.
        since: &'static str,
        /// What to use instead.
        alternative: &'static str,
    },
}

/// One provider code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderCode {
    /// The code as the installer (or a later lego release) knew it.
    pub code: &'static str,
    /// Other names for exactly the same provider and API, accepted as well.
    pub aliases: &'static [&'static str],
    /// The provider's name, for people.
    pub name: &'static str,
    /// lego's environment variable names for the credentials, for codes without a built-in
    /// adapter (a built-in adapter declares its own): what an `exec` script needs.
    pub settings: &'static [&'static str],
    /// What became of the service.
    pub fate: Fate,
    /// Where that was found.
    pub sources: &'static [&'static str],
    /// In the installer's list (else a later lego name).
    pub installer: bool,
}

impl ProviderCode {
    /// The built-in adapter serving this code, if this build has one.
    pub fn builtin(&self) -> Option<&'static Builtin> {
        crate::dns::provider::find(self.code)
    }
}

const LEGO_DNS: &str = "https://go-acme.github.io/lego/dns/";
const LEGO_CHANGELOG: &str = "https://github.com/go-acme/lego/blob/master/CHANGELOG.md";

/// A code of the installer's list whose service runs and has no adapter yet.
const fn alive(code: &'static str, name: &'static str, settings: &'static [&'static str]) -> ProviderCode {
    ProviderCode {
        code,
        aliases: &[],
        name,
        settings,
        fate: Fate::NotBuilt,
        sources: &[LEGO_DNS],
        installer: true,
    }
}

/// A later lego name (not in the installer's list).
const fn later(code: &'static str, name: &'static str, settings: &'static [&'static str]) -> ProviderCode {
    ProviderCode { installer: false, ..alive(code, name, settings) }
}

/// Every code: the installer's, in its order, then later lego names.
pub const PROVIDER_CODES: &[ProviderCode] = &[
    alive("acme-dns", "ACME-DNS", &["ACME_DNS_API_BASE", "ACME_DNS_STORAGE_PATH"]),
    alive(
        "alidns",
        "Alibaba Cloud DNS",
        &["ALICLOUD_ACCESS_KEY", "ALICLOUD_SECRET_KEY", "ALICLOUD_RAM_ROLE"],
    ),
    alive("auroradns", "Aurora DNS (PCextreme)", &["AURORA_API_KEY", "AURORA_SECRET"]),
    ProviderCode {
        fate: Fate::Routed {
            to: "azuredns",
            why: "lego replaced `azure` (its archived Azure SDK) with `azuredns` and removed it in v5.0.0",
        },
        sources: &["https://github.com/go-acme/lego/issues/2553", LEGO_CHANGELOG],
        ..alive(
            "azure",
            "Azure DNS",
            &[
                "AZURE_CLIENT_ID",
                "AZURE_CLIENT_SECRET",
                "AZURE_TENANT_ID",
                "AZURE_SUBSCRIPTION_ID",
                "AZURE_RESOURCE_GROUP",
            ],
        )
    },
    alive("bindman", "Bindman", &["BINDMAN_MANAGER_ADDRESS"]),
    alive(
        "bluecat",
        "BlueCat Address Manager",
        &[
            "BLUECAT_SERVER_URL",
            "BLUECAT_USER_NAME",
            "BLUECAT_PASSWORD",
            "BLUECAT_CONFIG_NAME",
            "BLUECAT_DNS_VIEW",
        ],
    ),
    alive("cloudns", "ClouDNS", &["CLOUDNS_AUTH_ID", "CLOUDNS_AUTH_PASSWORD"]),
    alive("cloudflare", "Cloudflare", &["CF_API_EMAIL", "CF_API_KEY", "CF_DNS_API_TOKEN"]),
    ProviderCode {
        fate: Fate::Closed {
            since: "2021 (free service ended 2019; the domain lapsed in the second half of 2021)",
            alternative: "move the zone to another DNS host: tencentcloud (DNSPod) or alidns are the nearest, any built-in adapter works",
        },
        sources: &[
            "https://github.com/go-acme/lego/issues/2323",
            "https://github.com/acmesh-official/acme.sh/pull/4025",
            "https://github.com/certbot/certbot/issues/7276",
        ],
        ..alive("cloudxns", "CloudXNS", &["CLOUDXNS_API_KEY", "CLOUDXNS_SECRET_KEY"])
    },
    alive("conoha", "ConoHa", &["CONOHA_TENANT_ID", "CONOHA_API_USERNAME", "CONOHA_API_PASSWORD"]),
    alive("digitalocean", "DigitalOcean", &["DO_AUTH_TOKEN"]),
    alive("dnsimple", "DNSimple", &["DNSIMPLE_OAUTH_TOKEN"]),
    alive("dnsmadeeasy", "DNS Made Easy", &["DNSMADEEASY_API_KEY", "DNSMADEEASY_API_SECRET"]),
    ProviderCode {
        fate: Fate::Routed {
            to: "tencentcloud",
            why: "DNSPod's own API (dnsapi.cn) is gone; DNSPod is run through Tencent Cloud's API (lego deprecated `dnspod` in v4.9.0, removed it in v5.0.0)",
        },
        sources: &[
            "https://github.com/go-acme/lego/pull/1715",
            "https://github.com/go-acme/lego/issues/2057",
            LEGO_CHANGELOG,
        ],
        ..alive("dnspod", "DNSPod", &["DNSPOD_API_KEY"])
    },
    alive("dode", "Domain Offensive (do.de)", &["DODE_TOKEN"]),
    alive("dreamhost", "DreamHost", &["DREAMHOST_API_KEY"]),
    alive("duckdns", "Duck DNS", &["DUCKDNS_TOKEN"]),
    ProviderCode {
        fate: Fate::Closed {
            since: "2023-05-31 (end of life of Dyn Managed DNS; Oracle first announced 2020-05-31)",
            alternative: "Oracle's migration path, OCI DNS (oraclecloud)",
        },
        sources: &[
            "https://www.lemondeinformatique.fr/actualites/lire-oracle-suscite-la-gronde-des-clients-dyn-en-imposant-son-dns-cloud-75775.html",
            "https://docs.oracle.com/en-us/iaas/tools/dotnet/latest/api/Oci.DnsService.Models.CreateMigratedDynectZoneDetails.html",
            "https://github.com/rmbolger/Posh-ACME/pull/271",
            "https://github.com/octodns/octodns/pull/2",
        ],
        ..alive("dyn", "Dyn Managed DNS (Oracle)", &["DYN_CUSTOMER_NAME", "DYN_USER_NAME", "DYN_PASSWORD"])
    },
    alive("easydns", "easyDNS", &["EASYDNS_TOKEN", "EASYDNS_KEY"]),
    alive("exec", "External program", &["EXEC_PATH", "EXEC_MODE"]),
    alive("exoscale", "Exoscale", &["EXOSCALE_API_KEY", "EXOSCALE_API_SECRET"]),
    ProviderCode {
        fate: Fate::Routed {
            to: "edgedns",
            why: "Akamai renamed FastDNS to Edge DNS; lego added `edgedns` and deprecated `fastdns` in v3.9.0, removed it in v4.0.0",
        },
        sources: &[LEGO_CHANGELOG, "https://go-acme.github.io/lego/dns/edgedns/"],
        ..alive(
            "fastdns",
            "Akamai FastDNS",
            &["AKAMAI_HOST", "AKAMAI_CLIENT_TOKEN", "AKAMAI_CLIENT_SECRET", "AKAMAI_ACCESS_TOKEN"],
        )
    },
    ProviderCode {
        fate: Fate::Routed {
            to: "gandiv5",
            why: "Gandi's legacy XML-RPC API (rpc.gandi.net) does not serve LiveDNS, the DNS platform of every Gandi domain now; use a LiveDNS personal access token",
        },
        sources: &[
            "https://github.com/go-acme/lego/issues/426",
            "https://github.com/PalmStoneGames/kube-cert-manager/pull/99",
            "https://api.gandi.net/docs/livedns/",
        ],
        ..alive("gandi", "Gandi (legacy XML-RPC API)", &["GANDI_API_KEY"])
    },
    alive("gandiv5", "Gandi LiveDNS (v5)", &["GANDIV5_PERSONAL_ACCESS_TOKEN", "GANDIV5_API_KEY"]),
    alive("glesys", "GleSYS", &["GLESYS_API_USER", "GLESYS_API_KEY"]),
    alive("godaddy", "GoDaddy", &["GODADDY_API_KEY", "GODADDY_API_SECRET"]),
    alive("gcloud", "Google Cloud DNS", &["GCE_PROJECT", "GCE_SERVICE_ACCOUNT_FILE"]),
    alive("hostingde", "Hosting.de", &["HOSTINGDE_API_KEY"]),
    alive(
        "httpreq",
        "HTTP request",
        &["HTTPREQ_ENDPOINT", "HTTPREQ_MODE", "HTTPREQ_USERNAME", "HTTPREQ_PASSWORD"],
    ),
    ProviderCode {
        fate: Fate::Routed {
            to: "iijdpf",
            why: "IIJ's DNS Outsourcing Service ended in May 2023; its successor is the IIJ DNS Platform Service (lego `iijdpf`, `iij` removed in v5.0.0)",
        },
        sources: &["https://github.com/go-acme/lego/issues/1644", LEGO_CHANGELOG],
        ..alive(
            "iij",
            "Internet Initiative Japan (DNS Outsourcing)",
            &["IIJ_API_ACCESS_KEY", "IIJ_API_SECRET_KEY", "IIJ_DO_SERVICE_CODE"],
        )
    },
    alive("inwx", "INWX", &["INWX_USERNAME", "INWX_PASSWORD"]),
    alive("joker", "Joker.com", &["JOKER_API_MODE", "JOKER_USERNAME", "JOKER_PASSWORD", "JOKER_API_KEY"]),
    alive("lightsail", "Amazon Lightsail", &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DNS_ZONE"]),
    ProviderCode {
        fate: Fate::Routed {
            to: "linodev4",
            why: "Linode's v3 API reached its end of life in July 2023; lego removed the old Linode provider in v4.0.0",
        },
        sources: &[LEGO_CHANGELOG, "https://github.com/dns-lexicon/dns-lexicon/issues/35"],
        ..alive("linode", "Linode (v3 API)", &["LINODE_API_KEY"])
    },
    alive("linodev4", "Linode (v4 API)", &["LINODE_TOKEN"]),
    alive("manual", "Manual (a person creates the record)", &[]),
    alive("mydnsjp", "MyDNS.JP", &["MYDNSJP_MASTER_ID", "MYDNSJP_PASSWORD"]),
    alive("namecheap", "Namecheap", &["NAMECHEAP_API_USER", "NAMECHEAP_API_KEY"]),
    alive("namesilo", "NameSilo", &["NAMESILO_API_KEY"]),
    alive("namedotcom", "Name.com", &["NAMECOM_USERNAME", "NAMECOM_API_TOKEN"]),
    alive("netcup", "netcup", &["NETCUP_CUSTOMER_NUMBER", "NETCUP_API_KEY", "NETCUP_API_PASSWORD"]),
    alive("nifcloud", "NIFCLOUD DNS", &["NIFCLOUD_ACCESS_KEY_ID", "NIFCLOUD_SECRET_ACCESS_KEY"]),
    alive("ns1", "NS1", &["NS1_API_KEY"]),
    alive(
        "otc",
        "Open Telekom Cloud",
        &["OTC_USER_NAME", "OTC_PASSWORD", "OTC_PROJECT_NAME", "OTC_DOMAIN_NAME"],
    ),
    alive(
        "ovh",
        "OVH",
        &["OVH_ENDPOINT", "OVH_APPLICATION_KEY", "OVH_APPLICATION_SECRET", "OVH_CONSUMER_KEY"],
    ),
    alive(
        "designate",
        "OpenStack Designate",
        &["OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "OS_REGION_NAME"],
    ),
    alive(
        "oraclecloud",
        "Oracle Cloud Infrastructure DNS",
        &[
            "OCI_COMPARTMENT_OCID",
            "OCI_REGION",
            "OCI_PRIVATE_KEY_PATH",
            "OCI_TENANCY_OCID",
            "OCI_USER_OCID",
            "OCI_FINGERPRINT",
        ],
    ),
    alive("pdns", "PowerDNS Authoritative", &["PDNS_API_URL", "PDNS_API_KEY"]),
    alive("rackspace", "Rackspace Cloud DNS", &["RACKSPACE_USER", "RACKSPACE_API_KEY"]),
    ProviderCode {
        aliases: &["dnsupdate"],
        ..alive(
            "rfc2136",
            "RFC 2136 dynamic update (BIND, Knot, PowerDNS, Windows DNS)",
            &["RFC2136_NAMESERVER", "RFC2136_TSIG_KEY", "RFC2136_TSIG_SECRET", "RFC2136_TSIG_ALGORITHM"],
        )
    },
    alive(
        "route53",
        "Amazon Route 53",
        &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_HOSTED_ZONE_ID"],
    ),
    alive("sakuracloud", "Sakura Cloud", &["SAKURACLOUD_ACCESS_TOKEN", "SAKURACLOUD_ACCESS_TOKEN_SECRET"]),
    ProviderCode {
        fate: Fate::Routed {
            to: "selectelv2",
            why: "Selectel's legacy DNS API v1 (X-Token keys) is deprecated and Selectel asks to move domains to the current DNS hosting, whose API v2 takes a service user's Keystone token (lego's `selectelv2`); found 2026-12-03",
        },
        sources: &[
            "https://docs.selectel.ru/api/dns-legacy",
            "https://docs.selectel.ru/control-panel-actions/account/api-keys/",
            "https://go-acme.github.io/lego/dns/selectelv2/",
            "https://github.com/acmesh-official/acme.sh/pull/5128",
        ],
        ..alive("selectel", "Selectel (legacy DNS API)", &["SELECTEL_API_TOKEN"])
    },
    ProviderCode {
        fate: Fate::Closed {
            since: "2024 (StackPath ceased operations in June 2024)",
            alternative: "Akamai Edge DNS (edgedns), which took over StackPath's edge customers, or any built-in adapter",
        },
        sources: &[
            "https://github.com/go-acme/lego/pull/3116",
            "https://github.com/ansible-collections/community.general/pull/10026",
        ],
        ..alive(
            "stackpath",
            "StackPath",
            &["STACKPATH_CLIENT_ID", "STACKPATH_CLIENT_SECRET", "STACKPATH_STACK_ID"],
        )
    },
    alive("transip", "TransIP", &["TRANSIP_ACCOUNT_NAME", "TRANSIP_PRIVATE_KEY_PATH"]),
    ProviderCode {
        sources: &[LEGO_DNS, "https://github.com/shupp/VegaDNS-API"],
        ..alive(
            "vegadns",
            "VegaDNS (self-hosted)",
            &["SECRET_VEGADNS_KEY", "SECRET_VEGADNS_SECRET", "VEGADNS_URL"],
        )
    },
    alive("versio", "Versio", &["VERSIO_USERNAME", "VERSIO_PASSWORD"]),
    ProviderCode {
        fate: Fate::Routed {
            to: "selectelv2",
            why: "Vscale is Selectel's; its DNS was Selectel's legacy DNS API (lego's `vscale` is the `selectel` client on api.vscale.io), now Selectel's DNS hosting API v2",
        },
        sources: &[
            "https://github.com/go-acme/lego/blob/master/providers/dns/vscale/vscale.go",
            "https://docs.selectel.ru/api/dns-legacy",
        ],
        ..alive("vscale", "Vscale", &["VSCALE_API_TOKEN"])
    },
    alive("vultr", "Vultr", &["VULTR_API_KEY"]),
    alive("zoneee", "Zone.ee", &["ZONEEE_API_USER", "ZONEEE_API_KEY"]),
    // Later lego names.
    later(
        "azuredns",
        "Azure DNS",
        &[
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_TENANT_ID",
            "AZURE_SUBSCRIPTION_ID",
            "AZURE_RESOURCE_GROUP",
        ],
    ),
    later(
        "edgedns",
        "Akamai Edge DNS",
        &["AKAMAI_HOST", "AKAMAI_CLIENT_TOKEN", "AKAMAI_CLIENT_SECRET", "AKAMAI_ACCESS_TOKEN"],
    ),
    later(
        "tencentcloud",
        "Tencent Cloud DNS (DNSPod)",
        &["TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"],
    ),
    later("iijdpf", "IIJ DNS Platform Service", &["IIJ_DPF_API_TOKEN", "IIJ_DPF_DPM_SERVICE_CODE"]),
    ProviderCode {
        sources: &[LEGO_DNS, "https://github.com/acmesh-official/acme.sh/pull/5128"],
        ..later(
            "selectelv2",
            "Selectel (DNS API v2)",
            &["SELECTELV2_USERNAME", "SELECTELV2_PASSWORD", "SELECTELV2_ACCOUNT_ID", "SELECTELV2_PROJECT_ID"],
        )
    },
];

/// The entry for a code or one of its aliases (case-insensitive).
pub fn lookup(code: &str) -> Option<&'static ProviderCode> {
    let code = code.trim().to_ascii_lowercase();
    PROVIDER_CODES.iter().find(|p| p.code == code || p.aliases.contains(&code.as_str()))
}

/// The codes of the built-in adapters, for messages.
pub fn built_in_codes() -> Vec<&'static str> {
    let mut codes: Vec<&str> = builtins().iter().map(|b| b.code).collect();
    codes.sort_unstable();
    codes
}

/// What a code means in this build.
#[derive(Debug, Clone, Copy)]
pub enum Status {
    /// A built-in adapter serves it.
    Native(&'static Builtin),
    /// The service moved to `to`; `builtin` serves it, or nothing yet.
    Routed {
        /// The table's line for the code as written.
        entry: &'static ProviderCode,
        /// The code that serves it now.
        to: &'static str,
        /// Why it moved, for the warning.
        why: &'static str,
        /// The adapter for `to`, when this build has one.
        builtin: Option<&'static Builtin>,
    },
    /// The service closed.
    Closed {
        /// The table's line for the code.
        entry: &'static ProviderCode,
        /// When the service closed.
        since: &'static str,
        /// What to use instead, for the refusal message.
        alternative: &'static str,
    },
    /// The service runs; no adapter yet.
    NotBuilt(&'static ProviderCode),
    /// Its adapter is in the source tree but left out of this build.
    LeftOut {
        /// The adapter's canonical code.
        code: &'static str,
        /// The cargo feature that builds it in.
        feature: &'static str,
    },
    /// Not a code wildcert knows.
    Unknown,
}

impl Status {
    /// `native`, `routed` or `refused`: how the code fares at config load.
    pub fn word(&self) -> &'static str {
        match self {
            Status::Native(_) => "native",
            Status::Routed { .. } => "routed",
            _ => "refused",
        }
    }

    /// The adapter a config using this code gets, if any.
    pub fn builtin(&self) -> Option<&'static Builtin> {
        match self {
            Status::Native(b) | Status::Routed { builtin: Some(b), .. } => Some(b),
            _ => None,
        }
    }
}

/// What `code` (as written, any case) means in this build. A built-in adapter wins over the
/// table: a registry line is all it takes to make a code native.
pub fn status(code: &str) -> Status {
    status_at(code, 0)
}

fn status_at(code: &str, depth: u8) -> Status {
    let code = code.trim().to_ascii_lowercase();
    if let Some(builtin) = crate::dns::provider::find(&code) {
        return Status::Native(builtin);
    }
    let entry = lookup(&code);
    let canonical = entry.map_or(code.as_str(), |e| e.code);
    if let Some((code, feature)) = left_out().into_iter().find(|(c, _)| *c == canonical) {
        return Status::LeftOut { code, feature };
    }
    let Some(entry) = entry else { return Status::Unknown };
    match entry.fate {
        Fate::NotBuilt => Status::NotBuilt(entry),
        Fate::Closed { since, alternative } => Status::Closed { entry, since, alternative },
        Fate::Routed { to, why } => {
            // Successors are table entries or adapters, never a cycle; the depth is a guard.
            let builtin = if depth < 4 { status_at(to, depth + 1).builtin() } else { None };
            Status::Routed { entry, to, why, builtin }
        }
    }
}

/// The warning for a routed code that reaches an adapter, `None` for any other status.
pub fn routed_warning(section: &str, written: &str, status: &Status) -> Option<String> {
    match status {
        Status::Routed { to, why, builtin: Some(b), .. } => Some(format!(
            "dns.{section}.provider \"{}\" is now \"{to}\" ({why}); write provider = \"{to}\" with {}'s settings (`wildcert providers`)",
            written.trim().to_ascii_lowercase(),
            b.name
        )),
        _ => None,
    }
}

const BRIDGES: &str = "drive the provider's API from a script with provider = \"exec\" (program = \"/path/to/script\", run as `script present|cleanup FQDN VALUE`) or from an HTTP endpoint with provider = \"httpreq\" (endpoint = \"https://...\", which receives POST /present and /cleanup with {\"fqdn\", \"value\"})";

/// Why `written` cannot be used, and what to do instead; `None` when it reaches an adapter.
pub fn refusal(written: &str, status: &Status) -> Option<String> {
    let written = written.trim().to_ascii_lowercase();
    let named = |entry: &ProviderCode| {
        if entry.code == written {
            format!("{} ({})", entry.code, entry.name)
        } else {
            format!("{written} ({}, code {})", entry.name, entry.code)
        }
    };
    let with_settings = |settings: &[&str]| {
        if settings.is_empty() {
            String::new()
        } else {
            format!(", passing it lego's {} through its environment", settings.join(", "))
        }
    };
    let built_in = format!("Built in: {}", built_in_codes().join(", "));
    Some(match status {
        Status::Native(_) | Status::Routed { builtin: Some(_), .. } => return None,
        Status::Routed { entry, to, why, builtin: None } => {
            let successor = lookup(to).map_or(&[][..], |e| e.settings);
            format!(
                "{} moved to \"{to}\" ({why}), and \"{to}\" is not built in yet: until it is, {}{}. {built_in}",
                named(entry),
                BRIDGES,
                with_settings(successor)
            )
        }
        Status::Closed { entry, since, alternative } => format!(
            "{} no longer exists (closed {since}). Move the zone: {alternative}; see `wildcert providers`. {built_in}",
            named(entry)
        ),
        Status::NotBuilt(entry) => format!(
            "{} is not built in yet: {}{}. {built_in}",
            named(entry),
            BRIDGES,
            with_settings(entry.settings)
        ),
        Status::LeftOut { feature, .. } => format!(
            "this wildcert was built without the `{feature}` cargo feature; rebuild with `--features {feature}`, or {BRIDGES}"
        ),
        Status::Unknown => format!(
            "unknown provider code `{written}` (`wildcert providers` lists the codes wildcert knows). Any DNS API can be driven: {BRIDGES}. {built_in}"
        ),
    })
}

/// Every code this build knows, the table's and the adapters' (their codes and later names),
/// sorted, each once.
pub fn all_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = PROVIDER_CODES.iter().map(|p| p.code).collect();
    for builtin in builtins() {
        codes.push(builtin.code);
        codes.extend(builtin.aliases.iter().copied());
    }
    codes.sort_unstable();
    codes.dedup();
    codes
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
        let table: Vec<&str> = PROVIDER_CODES.iter().filter(|p| p.installer).map(|p| p.code).collect();
        let listed: Vec<&str> = list.iter().map(|(c, _)| *c).collect();
        assert_eq!(table, listed, "the table must follow the installer's list, in order");
        for (code, envs) in &list {
            let entry = lookup(code).unwrap();
            if left_out().iter().any(|(c, _)| c == code) {
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

    /// No code is silently unknown: each of the installer's 60 codes and each later lego name
    /// in the table has a status, and each refusal says why and what to do.
    #[test]
    fn every_code_has_a_status() {
        let mut codes: Vec<&str> = installer_codes().into_iter().map(|(c, _)| c).collect();
        codes.extend(["azuredns", "edgedns", "tencentcloud", "iijdpf", "selectelv2", "dnsupdate"]);
        for code in codes {
            let status = status(code);
            assert!(!matches!(status, Status::Unknown), "{code} is unknown");
            match refusal(code, &status) {
                None => assert!(status.builtin().is_some(), "{code}"),
                Some(text) => {
                    assert!(text.contains(code), "{code}: {text}");
                    match status {
                        Status::Closed { since, .. } => {
                            assert!(text.contains("no longer exists") && text.contains(since), "{text}")
                        }
                        Status::LeftOut { .. } => assert!(text.contains("cargo feature"), "{text}"),
                        _ => assert!(text.contains("\"exec\"") && text.contains("\"httpreq\""), "{text}"),
                    }
                }
            }
        }
        assert!(matches!(status("nosuchdns"), Status::Unknown));
    }

    /// Every table entry names a source, every routed code names a successor the table or
    /// the registry knows, and codes and aliases are unique across the table.
    #[test]
    fn fates_have_sources_and_known_successors() {
        let mut names: Vec<&str> = Vec::new();
        for entry in PROVIDER_CODES {
            names.push(entry.code);
            names.extend(entry.aliases);
            assert!(!entry.sources.is_empty(), "{}", entry.code);
            if let Fate::Routed { to, .. } = entry.fate {
                assert!(
                    lookup(to).is_some() || crate::dns::provider::find(to).is_some(),
                    "{} routes to unknown {to}",
                    entry.code
                );
                assert_ne!(lookup(to).map(|e| e.code), Some(entry.code), "{} routes to itself", entry.code);
            }
        }
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all, "codes and aliases must be unique");
    }

    /// Selectel's legacy code and Vscale's reach the DNS hosting API v2 adapter, with a
    /// warning naming `selectelv2`.
    #[test]
    fn selectel_and_vscale_route_to_selectelv2() {
        for code in ["selectel", "vscale"] {
            let status = status(code);
            assert_eq!(status.word(), "routed", "{code}");
            assert_eq!(status.builtin().map(|b| b.code), Some("selectelv2"), "{code}");
            let warning = routed_warning("office", code, &status).unwrap();
            assert!(warning.contains("is now \"selectelv2\""), "{warning}");
        }
        assert_eq!(status("selectelv2").word(), "native");
    }

    /// A registry line wins over the table: codes served by a built-in adapter (its code or a
    /// later name it declares) are native whatever the table says.
    #[test]
    fn built_in_adapters_win() {
        for builtin in builtins() {
            for code in std::iter::once(&builtin.code).chain(builtin.aliases) {
                match status(code) {
                    Status::Native(b) => assert_eq!(b.code, builtin.code, "{code}"),
                    other => panic!("{code}: {other:?}"),
                }
            }
        }
        // gandi moved to LiveDNS, which is built in: accepted, with a warning naming gandiv5.
        let gandi = status("gandi");
        assert_eq!(gandi.word(), "routed");
        assert_eq!(gandi.builtin().map(|b| b.code), Some("gandiv5"));
        let warning = routed_warning("office", "Gandi", &gandi).unwrap();
        assert!(warning.starts_with("dns.office.provider \"gandi\" is now \"gandiv5\""), "{warning}");
        assert!(refusal("gandi", &gandi).is_none());
        // lego 5 calls rfc2136 dnsupdate.
        assert_eq!(status("dnsupdate").builtin().map(|b| b.code), Some("rfc2136"));
    }

    #[test]
    fn refusals_say_why() {
        let dyn_ = refusal("dyn", &status("dyn")).unwrap();
        assert!(dyn_.contains("2023-05-31") && dyn_.contains("oraclecloud"), "{dyn_}");
        let cloudxns = refusal("CloudXNS", &status("CloudXNS")).unwrap();
        assert!(cloudxns.starts_with("cloudxns (CloudXNS) no longer exists"), "{cloudxns}");
        let stackpath = refusal("stackpath", &status("stackpath")).unwrap();
        assert!(stackpath.contains("2024"), "{stackpath}");
        // Routed to a successor without an adapter in this build: says so, with the
        // successor's lego names for a script.
        if crate::dns::provider::find("edgedns").is_none() {
            let fastdns = refusal("fastdns", &status("fastdns")).unwrap();
            assert!(
                fastdns.contains("moved to \"edgedns\"") && fastdns.contains("not built in yet"),
                "{fastdns}"
            );
            assert!(fastdns.contains("AKAMAI_CLIENT_TOKEN"), "{fastdns}");
        } else {
            let fastdns = status("fastdns");
            assert_eq!((fastdns.word(), fastdns.builtin().map(|b| b.code)), ("routed", Some("edgedns")));
            assert!(refusal("fastdns", &fastdns).is_none());
        }
        // Alive but without an adapter: says so honestly, with lego's names for a script.
        // Any such code serves as the example, so that building one never weakens the test.
        let not_built = PROVIDER_CODES
            .iter()
            .find(|c| !c.settings.is_empty() && matches!(status(c.code), Status::NotBuilt(_)));
        if let Some(entry) = not_built {
            let text = refusal(entry.code, &status(entry.code)).unwrap();
            assert!(
                text.starts_with(&format!("{} ({}) is not built in yet: ", entry.code, entry.name)),
                "{text}"
            );
            assert!(text.contains(&format!("lego's {}", entry.settings.join(", "))), "{text}");
        }
        let unknown = refusal("nosuchdns", &status("nosuchdns")).unwrap();
        assert!(unknown.contains("unknown provider code `nosuchdns`"), "{unknown}");
        assert!(unknown.contains(&format!("Built in: {}", built_in_codes().join(", "))), "{unknown}");
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
}
