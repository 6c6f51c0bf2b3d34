//! `wildcert providers`: the DNS provider codes wildcert knows, which are built in, and the
//! keys (with the installer's environment variable names) each built-in adapter reads.

use wildcert_dns_api::spec::{Kind, Target};

use wildcert::config::provider_codes::PROVIDER_CODES;
use wildcert::dns::provider::{Builtin, builtins, left_out};
use wildcert::exit::Status;

pub async fn run() -> anyhow::Result<Status> {
    print!("{}", render());
    Ok(Status::Ok)
}

/// The whole listing: every installer code, and any built-in adapter beyond them.
pub fn render() -> String {
    let mut rows: Vec<Row> = PROVIDER_CODES
        .iter()
        .map(|p| Row { code: p.code, name: p.name, aliases: p.aliases.to_vec(), settings: p.settings })
        .collect();
    for builtin in builtins() {
        if let Some(row) = rows.iter_mut().find(|r| r.code == builtin.code) {
            row.name = builtin.name;
            for alias in builtin.aliases {
                if !row.aliases.contains(alias) {
                    row.aliases.push(alias);
                }
            }
        } else {
            rows.push(Row {
                code: builtin.code,
                name: builtin.name,
                aliases: builtin.aliases.to_vec(),
                settings: &[],
            });
        }
    }
    rows.sort_by_key(|r| r.code);
    let width = rows.iter().map(|r| r.code.len()).max().unwrap_or(4).max(4) + 2;
    let mut out = format!(
        "DNS provider codes of the Gradient installer (lego's codes; later lego names in brackets).\n\
         Built-in adapters read the keys listed below them in [dns.NAME]; inside settings = {{ ... }}\n\
         the environment variable names in parentheses work as well. Other codes are refused when\n\
         the configuration loads: drive their API from provider = \"exec\" (a script) or \"httpreq\"\n\
         (an HTTP endpoint).\n\n{:<width$}{:<10}PROVIDER\n",
        "CODE", "BUILT IN"
    );
    let left_out = left_out();
    for row in rows {
        let builtin = builtins().iter().find(|b| b.code == row.code || b.aliases.contains(&row.code));
        let feature = left_out.iter().find(|(code, _)| *code == row.code).map(|(_, f)| *f);
        let built_in = match (builtin, feature) {
            (Some(_), _) => "yes",
            (None, Some(_)) => "no*",
            (None, None) => "no",
        };
        let mut name = row.name.to_string();
        if let Some(b) = builtin.filter(|b| b.code != row.code) {
            name.push_str(&format!(" (served by {})", b.code));
        }
        if !row.aliases.is_empty() {
            name.push_str(&format!(" [{}]", row.aliases.join(", ")));
        }
        if let Some(feature) = feature {
            name.push_str(&format!(" (not in this build: cargo feature `{feature}`)"));
        } else if builtin.is_none() && !row.settings.is_empty() {
            name.push_str(&format!("; installer settings: {}", row.settings.join(" ")));
        }
        out.push_str(&format!("{:<width$}{built_in:<10}{name}\n", row.code));
        if let Some(builtin) = builtin.filter(|b| b.code == row.code) {
            for line in wrap(&keys(builtin), 100 - width - 10) {
                out.push_str(&format!("{:<pad$}{line}\n", "", pad = width + 10));
            }
        }
    }
    out
}

struct Row {
    code: &'static str,
    name: &'static str,
    aliases: Vec<&'static str>,
    settings: &'static [&'static str],
}

/// `key (ENV)` for every key of a built-in adapter; a secret's three forms as one entry.
fn keys(builtin: &Builtin) -> Vec<String> {
    let mut shown = Vec::new();
    for key in builtin.fields {
        let secret = builtin.secrets.contains(key);
        let env: Vec<String> = builtin
            .env
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

    /// `docs/providers.md` shows the current listing (of a build with every adapter).
    #[test]
    fn providers_md_is_current() {
        if !left_out().is_empty() {
            return;
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/providers.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let (begin, end) =
            ("<!-- wildcert providers: begin -->\n```text\n", "```\n<!-- wildcert providers: end -->");
        let start = text.find(begin).expect("begin marker") + begin.len();
        let stop = text.find(end).expect("end marker");
        let listing = render();
        if text[start..stop] != listing {
            if std::env::var_os("WILDCERT_BLESS").is_some() {
                std::fs::write(&path, format!("{}{listing}{}", &text[..start], &text[stop..])).unwrap();
            } else {
                panic!("docs/providers.md is out of date: WILDCERT_BLESS=1 cargo test --lib providers_md");
            }
        }
    }

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
        for entry in PROVIDER_CODES.iter().filter(|p| p.builtin().is_none() && !p.settings.is_empty()) {
            let line = text.lines().find(|l| l.starts_with(&format!("{} ", entry.code))).unwrap();
            assert!(line.contains(&format!("installer settings: {}", entry.settings.join(" "))), "{line}");
        }
        for builtin in builtins() {
            for code in std::iter::once(&builtin.code).chain(builtin.aliases) {
                let line = text.lines().find(|l| l.starts_with(&format!("{code} "))).unwrap();
                assert!(line.contains(" yes "), "{line}");
            }
        }
        assert!(text.contains("Akamai FastDNS (now Edge DNS) [edgedns]"), "{text}");
        assert!(text.lines().all(|l| l.len() <= 100), "{text}");
    }
}
