//! Every DNS adapter's tests, one module per adapter, in one test binary: one link instead of
//! one per adapter, and the adapters' tests share the machine's test threads. Each module is
//! what a standalone `tests/<file>.rs` would be, with the shared modules taken from here.
//! Run one adapter's tests with `cargo test --test providers <code>::`.

#[path = "../conformance/mod.rs"]
mod conformance;
#[path = "../support/mod.rs"]
mod support;

// Adapters.
mod acmedns;
mod alidns;
mod auroradns;
mod azure;
mod bindman;
mod bluecat;
mod cloudflare;
mod cloudns;
mod conoha;
mod designate;
mod digitalocean;
mod dnsimple;
mod dnsmadeeasy;
mod dode;
mod dreamhost;
mod duckdns;
mod easydns;
mod edgedns;
mod exec;
mod exoscale;
mod gandiv5;
mod gcloud;
mod glesys;
mod godaddy;
mod hostingde;
mod httpreq;
mod inwx;
mod joker;
mod lightsail;
mod linode;
mod manual;
mod mydnsjp;
mod namecheap;
mod namedotcom;
mod namesilo;
mod netcup;
mod nifcloud;
mod ns1;
mod oraclecloud;
mod otc;
mod ovh;
mod pdns;
mod rackspace;
mod rfc2136;
mod route53;
mod sakuracloud;
mod selectelv2;
mod tencentcloud;
mod transip;
mod vegadns;
mod versio;
mod vultr;
mod zoneee;
