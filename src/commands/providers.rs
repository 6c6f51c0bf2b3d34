//! `wildcert providers`: the DNS provider codes wildcert knows, which are built in, and the
//! keys (with the installer's environment variable names) each built-in adapter reads.

use crate::config::provider_codes::{Kind, PROVIDER_CODES, ProviderCode, Target};
use crate::exit::Status;

pub async fn run() -> anyhow::Result<Status> {
    print!("{}", render());
    Ok(Status::Ok)
}

/// The whole listing.
pub fn render() -> String {
    let mut codes: Vec<&ProviderCode> = PROVIDER_CODES.iter().collect();
    codes.sort_by_key(|p| p.code);
    let width = codes.iter().map(|p| p.code.len()).max().unwrap_or(4).max(4) + 2;
    let mut out = format!(
        "DNS provider codes of the Gradient installer (lego's codes; later lego names in brackets).\n\
         Built-in adapters read the keys listed below them in [dns.NAME]; inside settings = {{ ... }}\n\
         the environment variable names in parentheses work as well. Other codes are refused when\n\
         the configuration loads: drive their API from provider = \"exec\" (a script) or \"httpreq\"\n\
         (an HTTP endpoint).\n\n{:<width$}{:<10}PROVIDER\n",
        "CODE", "BUILT IN"
    );
    for entry in codes {
        let built_in = match entry.adapter {
            Some(adapter) if adapter.compiled_in() => "yes",
            Some(_) => "no*",
            None => "no",
        };
        let mut name = entry.name.to_string();
        if !entry.aliases.is_empty() {
            name.push_str(&format!(" [{}]", entry.aliases.join(", ")));
        }
        match entry.adapter {
            None if !entry.settings.is_empty() => {
                let env: Vec<&str> = entry.settings.iter().map(|s| s.env).collect();
                name.push_str(&format!("; installer settings: {}", env.join(" ")));
            }
            Some(adapter) if !adapter.compiled_in() => {
                name.push_str(&format!(" (not in this build: cargo feature `{}`)", adapter.code()));
            }
            _ => {}
        }
        out.push_str(&format!("{:<width$}{built_in:<10}{name}\n", entry.code));
        if entry.adapter.is_some() {
            for line in wrap(&keys(entry), 100 - width - 10) {
                out.push_str(&format!("{:<pad$}{line}\n", "", pad = width + 10));
            }
        }
    }
    out
}

/// `key (ENV)` for every key of a built-in adapter; a secret's three forms as one entry.
fn keys(entry: &ProviderCode) -> Vec<String> {
    let Some(adapter) = entry.adapter else {
        return Vec::new();
    };
    let mut shown = Vec::new();
    for key in adapter.keys() {
        if key.ends_with("_file") || key.ends_with("_env") {
            continue;
        }
        let secret = adapter.keys().contains(&format!("{key}_file").as_str());
        let env: Vec<String> = entry
            .settings
            .iter()
            .filter_map(|s| match s.target {
                Target::Key(k, Kind::Secret) if k == *key => Some(format!("{}[_FILE]", s.env)),
                Target::Key(k, _) if k == *key => Some(s.env.to_string()),
                _ => None,
            })
            .collect();
        let mut text = if secret { format!("{key}[_file|_env]") } else { key.to_string() };
        if !env.is_empty() {
            text.push_str(&format!(" ({})", env.join(", ")));
        }
        shown.push(text);
    }
    shown
}

/// Joins items with ", " into lines of at most `width` characters.
fn wrap(items: &[String], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && line.len() + 2 + item.len() > width {
            lines.push(format!("{line},"));
            line.clear();
        }
        if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(item);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_code_with_its_keys() {
        let text = render();
        for entry in PROVIDER_CODES {
            assert!(text.lines().any(|l| l.starts_with(&format!("{} ", entry.code))), "{}", entry.code);
        }
        assert!(text.contains("nameserver (RFC2136_NAMESERVER)"), "{text}");
        assert!(text.contains("tsig_secret[_file|_env] (RFC2136_TSIG_SECRET[_FILE])"), "{text}");
        assert!(text.contains("program (EXEC_PATH)"), "{text}");
        assert!(text.contains("api_url (PDNS_API_URL)"), "{text}");
        assert!(text.contains("api_token[_file|_env] (CF_DNS_API_TOKEN[_FILE])"), "{text}");
        assert!(text.contains("email (CF_API_EMAIL)"), "{text}");
        assert!(text.contains("installer settings: DO_AUTH_TOKEN"), "{text}");
        assert!(text.contains("Akamai FastDNS (now Edge DNS) [edgedns]"), "{text}");
        assert!(text.lines().all(|l| l.len() <= 100), "{text}");
    }
}
