//! Which URLs wildcert may talk to in clear text. Private keys go to the bucket and API keys
//! to DNS APIs and webhooks, so a plain `http://` endpoint is refused unless it is on this
//! host (a loopback address) or the operator said so next to it with `allow_http = true`.

use std::net::IpAddr;

/// Whether `host` (as written in a URL: a name, an IPv4 address or a bracketed IPv6 one)
/// names this host.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    // Only the exact name: `*.localhost` may be sent to a DNS server by some resolvers.
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The host part of an `http://` or `https://` URL (without user info and port).
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.starts_with('[') {
        return authority.split_once(']').map_or(authority, |(h, _)| h).trim_start_matches('[');
    }
    authority.split(':').next().unwrap_or_default()
}

/// Checks that `url` is `https://`, or `http://` to a loopback host, or `http://` with
/// `allow_http`. `setting` names where the URL was configured (for the fix in the message).
/// Never echoes the URL's path or query: a webhook URL carries its secret there.
pub fn check(url: &str, allow_http: bool, setting: &str) -> Result<(), String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("https://") {
        return if host_of(rest).is_empty() {
            Err(format!("{setting} must be a URL with a host"))
        } else {
            Ok(())
        };
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return Err(format!("{setting} must be an https:// URL"));
    };
    let host = host_of(rest);
    if host.is_empty() {
        return Err(format!("{setting} must be a URL with a host"));
    }
    if allow_http || is_loopback_host(host) {
        return Ok(());
    }
    Err(format!(
        "http://{host} is plain HTTP: what wildcert sends there (keys, credentials) would cross the network unencrypted; use https://, or set allow_http = true next to {setting} if the path is protected otherwise"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in ["127.0.0.1", "127.9.9.9", "[::1]", "::1", "localhost", "LOCALHOST"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in
            ["10.0.0.1", "example.com", "localhost.example.com", "a.localhost", "127.0.0.1.nip.io", "[::2]"]
        {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn plain_http_only_for_loopback_or_when_allowed() {
        assert!(check("https://minio.internal:9000", false, "endpoint").is_ok());
        assert!(check("http://127.0.0.1:9000", false, "endpoint").is_ok());
        assert!(check("http://[::1]:8081/api", false, "endpoint").is_ok());
        assert!(check("http://user:pw@localhost/x", false, "endpoint").is_ok());
        let err = check("http://10.0.0.53:8081/secret-path?token=abc", false, "api_url").unwrap_err();
        assert!(err.contains("allow_http = true") && err.contains("api_url"), "{err}");
        assert!(!err.contains("secret-path") && !err.contains("abc"), "{err}");
        assert!(check("http://10.0.0.53:8081", true, "api_url").is_ok());
        // A loopback-looking user-info part does not make the host loopback.
        assert!(check("http://127.0.0.1@evil.example/", false, "url").is_err());
        assert!(check("ftp://x", true, "url").is_err());
        assert!(check("https://", false, "url").is_err());
    }

    proptest::proptest! {
        /// Whatever the URL, the message never repeats its path or query (where webhook
        /// tokens live), and only loopback hosts pass without allow_http.
        #[test]
        fn never_echoes_the_path(host in "[a-z0-9.-]{1,20}", path in "[A-Za-z0-9]{8,20}") {
            let url = format!("http://{host}/{path}?t={path}");
            match check(&url, false, "url") {
                Ok(()) => proptest::prop_assert!(is_loopback_host(&host)),
                Err(m) => proptest::prop_assert!(!m.contains(&path) || host.contains(&path)),
            }
        }
    }
}
