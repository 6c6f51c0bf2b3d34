//! The built-in DNS adapters: one line each. The line's code must be the adapter's
//! `ProviderSpec::CODE`; everything else (settings, lego variable names, checks) lives in the
//! adapter's crate. Adding an adapter means adding its crate, its dependency line in
//! `Cargo.toml` and its line here.

crate::dns::provider::registry! {
    Rfc2136("rfc2136") => wildcert_dns_rfc2136::Rfc2136,
    #[cfg(feature = "route53")]
    Route53("route53") => wildcert_dns_route53::Route53,
    Pdns("pdns") => wildcert_dns_pdns::Pdns,
    Cloudflare("cloudflare") => wildcert_dns_cloudflare::Cloudflare,
    Exec("exec") => wildcert_dns_exec::Exec,
    Httpreq("httpreq") => wildcert_dns_httpreq::Httpreq,
    DigitalOcean("digitalocean") => wildcert_dns_digitalocean::DigitalOcean,
    GoDaddy("godaddy") => wildcert_dns_godaddy::GoDaddy,
    Vultr("vultr") => wildcert_dns_vultr::Vultr,
    Dnsimple("dnsimple") => wildcert_dns_dnsimple::Dnsimple,
    Linode("linodev4") => wildcert_dns_linode::Linode,
    Gandi("gandiv5") => wildcert_dns_gandiv5::Gandi,
    Ovh("ovh") => wildcert_dns_ovh::Ovh,
    Ns1("ns1") => wildcert_dns_ns1::Ns1,
    Manual("manual") => wildcert_dns_manual::Manual,
}
