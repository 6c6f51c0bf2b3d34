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
    Gcloud("gcloud") => wildcert_dns_gcloud::Gcloud,
    AzureDns("azuredns") => wildcert_dns_azure::AzureDns,
    Lightsail("lightsail") => wildcert_dns_lightsail::Lightsail,
    Namecheap("namecheap") => wildcert_dns_namecheap::Namecheap,
    AcmeDns("acme-dns") => wildcert_dns_acmedns::AcmeDns,
    DuckDns("duckdns") => wildcert_dns_duckdns::DuckDns,
    HostingDe("hostingde") => wildcert_dns_hostingde::HostingDe,
    Inwx("inwx") => wildcert_dns_inwx::Inwx,
    ClouDns("cloudns") => wildcert_dns_cloudns::ClouDns,
    NameSilo("namesilo") => wildcert_dns_namesilo::NameSilo,
    NameDotCom("namedotcom") => wildcert_dns_namedotcom::NameDotCom,
    DnsMadeEasy("dnsmadeeasy") => wildcert_dns_dnsmadeeasy::DnsMadeEasy,
    Netcup("netcup") => wildcert_dns_netcup::Netcup,
    EasyDns("easydns") => wildcert_dns_easydns::EasyDns,
    DreamHost("dreamhost") => wildcert_dns_dreamhost::DreamHost,
    Glesys("glesys") => wildcert_dns_glesys::Glesys,
    Zoneee("zoneee") => wildcert_dns_zoneee::Zoneee,
    Versio("versio") => wildcert_dns_versio::Versio,
    Exoscale("exoscale") => wildcert_dns_exoscale::Exoscale,
    Manual("manual") => wildcert_dns_manual::Manual,
    Designate("designate") => wildcert_dns_designate::Designate,
    Otc("otc") => wildcert_dns_otc::Otc,
}
