//! `wildcert providers`: every DNS provider code wildcert knows (the installer's 60 and later
//! lego names) with its status in this build: native (a built-in adapter, with the keys and
//! lego variable names it reads), routed (a moved service, accepted as its successor or
//! refused until the successor is built in) or refused (closed, or not built in yet). The
//! same rows, as a Markdown table with permissions, notes and sources, are
//! `docs/providers.md`.

use wildcert_dns_api::spec::{Kind, Target};

#[cfg(test)]
use wildcert::config::provider_codes::Fate;
use wildcert::config::provider_codes::{self, ProviderCode, Status, all_codes, lookup};
use wildcert::dns::provider::Builtin;
use wildcert::exit::Status as Exit;

pub async fn run() -> Result<Exit, crate::commands::error::CommandError> {
    print!("{}", render());
    Ok(Exit::Ok)
}

/// One code's row: its status and what to show about it.
struct Row {
    code: &'static str,
    status: Status,
    entry: Option<&'static ProviderCode>,
}

impl Row {
    fn name(&self) -> &'static str {
        match (self.status, self.entry) {
            (Status::Native(b), e) if e.is_none_or(|e| e.code == b.code) => b.name,
            (_, Some(e)) => e.name,
            _ => "",
        }
    }

    /// The adapter's own row (a code it declares), as opposed to a code it serves.
    fn own_builtin(&self) -> Option<&'static Builtin> {
        match self.status {
            Status::Native(b) if b.code == self.code => Some(b),
            _ => None,
        }
    }

    /// What the status means, in one phrase.
    fn detail(&self) -> String {
        match self.status {
            Status::Native(b) if b.code == self.code => String::new(),
            Status::Native(b) => format!("served by {}", b.code),
            Status::Routed { to, builtin: Some(_), .. } => format!("accepted as {to}, with a warning"),
            Status::Routed { to, builtin: None, .. } => format!("moved to {to}, which is not built in yet"),
            Status::Closed { since, alternative, .. } => format!("closed {since}; instead: {alternative}"),
            Status::NotBuilt(_) => "not built in yet: use exec or httpreq".into(),
            Status::LeftOut { feature, .. } => format!("not in this build: cargo feature `{feature}`"),
            Status::Unknown => String::new(),
        }
    }
}

fn rows() -> Vec<Row> {
    all_codes()
        .into_iter()
        .map(|code| Row {
            code,
            status: provider_codes::status(code),
            entry: lookup(code).filter(|e| e.code == code),
        })
        .collect()
}

/// The counts of native, routed and refused codes among `codes`.
pub fn counts<'a>(codes: impl IntoIterator<Item = &'a str>) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for code in codes {
        match provider_codes::status(code).word() {
            "native" => counts.0 += 1,
            "routed" => counts.1 += 1,
            _ => counts.2 += 1,
        }
    }
    counts
}

fn installer_codes() -> impl Iterator<Item = &'static str> {
    provider_codes::PROVIDER_CODES.iter().filter(|p| p.installer).map(|p| p.code)
}

/// The listing `wildcert providers` prints.
pub fn render() -> String {
    let rows = rows();
    let width = rows.iter().map(|r| r.code.len()).max().unwrap_or(4).max(4) + 2;
    let (native, routed, refused) = counts(installer_codes());
    let mut out = format!(
        "DNS provider codes: the Gradient installer's (lego's) and later lego names.\n\
         native:  a built-in adapter; it reads the keys listed below it in [dns.NAME], and inside\n         \
         settings = {{ ... }} the lego variable names in parentheses.\n\
         routed:  the service moved; the code is accepted as its successor (with a warning), or\n         \
         refused until the successor is built in.\n\
         refused: the service closed, or is not built in yet: drive its API from provider =\n         \
         \"exec\" (a script) or \"httpreq\" (an HTTP endpoint) with lego's variable names.\n\
         The installer's {} codes: {native} native, {routed} routed, {refused} refused.\n\n\
         {:<width$}{:<9}PROVIDER\n",
        installer_codes().count(),
        "CODE",
        "STATUS"
    );
    // One character left for the comma a wrapped list line ends with.
    let text_width = 100 - width - 9 - 1;
    for row in &rows {
        let mut text = row.name().to_string();
        let detail = row.detail();
        if !detail.is_empty() {
            text.push_str(&format!(" ({detail})"));
        }
        let mut lines = wrap(&text.split(' ').map(str::to_string).collect::<Vec<_>>(), text_width, " ");
        if let Some(b) = row.own_builtin() {
            lines.extend(wrap(&keys(b), text_width, ", "));
        } else if matches!(row.status, Status::NotBuilt(_) | Status::Routed { builtin: None, .. })
            && let Some(entry) = row.entry
        {
            let settings = match row.status {
                Status::Routed { to, .. } => lookup(to).map_or(entry.settings, |e| e.settings),
                _ => entry.settings,
            };
            if !settings.is_empty() {
                let items: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
                lines.extend(wrap(&items, text_width, " "));
            }
        }
        for (i, line) in lines.iter().enumerate() {
            if i == 0 {
                out.push_str(&format!("{:<width$}{:<9}{line}\n", row.code, row.status.word()));
            } else {
                out.push_str(&format!("{:<pad$}{line}\n", "", pad = width + 9));
            }
        }
    }
    out
}

/// `docs/providers.md`'s table: every code with status, settings, permissions, notes and
/// sources.
#[cfg(test)] // docs/providers.md is written by this file's tests
pub fn render_markdown() -> String {
    let (native, routed, refused) = counts(installer_codes());
    let mut out = format!(
        "The installer's {} codes: **{native} native, {routed} routed, {refused} refused** (in a build with every adapter).\n\n\
         | Code | Status | Settings (lego variable names) | Minimum permissions | Notes |\n\
         |---|---|---|---|---|\n",
        installer_codes().count()
    );
    for row in rows() {
        let code = if row.entry.is_some_and(|e| !e.installer) {
            format!("`{}` (later lego name)", row.code)
        } else {
            format!("`{}`", row.code)
        };
        let status = match row.status {
            Status::Native(_) => "native".to_string(),
            Status::Routed { to, builtin: Some(_), .. } => format!("routed → `{to}`"),
            Status::Routed { to, builtin: None, .. } => {
                format!("routed → `{to}` (not built in yet: refused)")
            }
            Status::Closed { .. } => "refused (closed)".into(),
            Status::NotBuilt(_) => "refused (not built in yet)".into(),
            Status::LeftOut { feature, .. } => format!("native (cargo feature `{feature}`)"),
            Status::Unknown => "unknown".into(),
        };
        let (settings, permissions, mut notes) = match row.own_builtin() {
            Some(b) => (keys(b).join(", "), b.permissions.to_string(), b.notes.to_string()),
            None => {
                let settings = match (row.status, row.entry) {
                    (Status::Routed { to, .. }, _) => format!("as `{to}`"),
                    (Status::Native(b), _) => format!("as `{}`", b.code),
                    (_, Some(e)) => e.settings.join(", "),
                    _ => String::new(),
                };
                (settings, String::new(), row.detail())
            }
        };
        if let Some(entry) = row.entry {
            if let Fate::Routed { why, .. } = entry.fate {
                notes = join_sentences(&notes, why);
            }
            if !entry.sources.is_empty() && !matches!(row.status, Status::Native(b) if b.code == row.code) {
                let links: Vec<String> = entry
                    .sources
                    .iter()
                    .enumerate()
                    .map(|(i, url)| {
                        let url = if url.ends_with("/lego/dns/") {
                            format!("{url}{}/", row.code)
                        } else {
                            url.to_string()
                        };
                        format!("[{}]({url})", i + 1)
                    })
                    .collect();
                notes = join_sentences(&notes, &format!("Sources: {}", links.join(" ")));
            }
        }
        let cell = |text: &str| if text.is_empty() { "—".to_string() } else { text.replace('|', "\\|") };
        out.push_str(&format!(
            "| {code} | {status} | {} | {} | {} |\n",
            cell(&settings),
            cell(&permissions),
            cell(&notes)
        ));
    }
    out
}

#[cfg(test)]
fn join_sentences(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}. {b}"),
    }
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

/// Joins items with `separator` into lines of at most `width` characters (a line ending
/// inside a ", " list keeps its comma).
fn wrap(items: &[String], width: usize, separator: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for item in items {
        if !line.is_empty() && line.len() + separator.len() + item.len() > width {
            lines.push(format!("{line}{}", separator.trim_end()));
            line.clear();
        }
        if !line.is_empty() {
            line.push_str(separator);
        }
        line.push_str(item);
        // An item longer than a whole line (a key with long lego names) breaks before its
        // parenthesis, the names going on an indented line of their own.
        if line.len() > width
            && let Some(at) = line.find(" (")
        {
            let names = line.split_off(at);
            lines.push(std::mem::replace(&mut line, format!("  {}", names.trim_start())));
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use wildcert::dns::provider::{builtins, left_out};

    /// `docs/providers.md` holds the current table (of a build with every adapter).
    #[test]
    fn providers_md_is_current() {
        if !left_out().is_empty() {
            return;
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/providers.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let (begin, end) = ("<!-- wildcert providers: begin -->\n", "<!-- wildcert providers: end -->");
        let start = text.find(begin).expect("begin marker") + begin.len();
        let stop = text.find(end).expect("end marker");
        let table = render_markdown();
        if text[start..stop] != table {
            if std::env::var_os("WILDCERT_BLESS").is_some() {
                std::fs::write(&path, format!("{}{table}{}", &text[..start], &text[stop..])).unwrap();
            } else {
                panic!(
                    "docs/providers.md is out of date: WILDCERT_BLESS=1 cargo test --bin wildcert providers_md"
                );
            }
        }
    }

    fn line_of<'a>(text: &'a str, code: &str) -> &'a str {
        text.lines().find(|l| l.starts_with(&format!("{code} "))).unwrap_or_else(|| panic!("{code}: {text}"))
    }

    #[test]
    fn lists_every_code_with_its_status_and_keys() {
        let text = render();
        for entry in provider_codes::PROVIDER_CODES {
            let line = line_of(&text, entry.code);
            let word = provider_codes::status(entry.code).word();
            assert!(line[..24].contains(&format!(" {word} ")), "{line}");
        }
        assert!(text.contains("nameserver (RFC2136_NAMESERVER)"), "{text}");
        assert!(text.contains("tsig_secret[_file|_env] (RFC2136_TSIG_SECRET[_FILE])"), "{text}");
        assert!(text.contains("api_token[_file|_env] (CF_DNS_API_TOKEN[_FILE])"), "{text}");
        for builtin in builtins() {
            for code in std::iter::once(&builtin.code).chain(builtin.aliases) {
                assert!(line_of(&text, code).contains(" native "), "{code}");
            }
        }
        assert!(
            line_of(&text, "dyn").contains("refused  Dyn Managed DNS (Oracle) (closed 2023-05-31"),
            "{text}"
        );
        assert!(
            line_of(&text, "gandi").contains("routed   Gandi (legacy XML-RPC API) (accepted as gandiv5"),
            "{text}"
        );
        assert!(line_of(&text, "linode").contains("served by linodev4"), "{text}");
        if wildcert::dns::provider::find("cloudns").is_none() {
            assert!(line_of(&text, "cloudns").contains("not built in yet: use exec or httpreq"), "{text}");
            assert!(text.contains("CLOUDNS_AUTH_ID CLOUDNS_AUTH_PASSWORD"), "{text}");
        }
        assert!(text.lines().all(|l| l.len() <= 100), "{text}");
    }

    #[test]
    fn a_key_longer_than_a_line_breaks_before_its_lego_names() {
        let long = "application_credential_secret[_file|_env] (OS_APPLICATION_CREDENTIAL_SECRET[_FILE])";
        let lines = wrap(&["a".to_string(), long.to_string(), "b".to_string()], 50, ", ");
        assert!(lines.iter().all(|l| l.len() <= 50), "{lines:?}");
        assert_eq!(lines[1], "application_credential_secret[_file|_env]");
        assert!(lines[2].starts_with("  (OS_APPLICATION_CREDENTIAL_SECRET[_FILE])"), "{lines:?}");
    }

    #[test]
    fn markdown_table_has_one_row_per_code() {
        let table = render_markdown();
        for code in all_codes() {
            let rows = table.lines().filter(|l| l.starts_with(&format!("| `{code}`"))).count();
            assert_eq!(rows, 1, "{code}");
        }
        let manual = table.lines().find(|l| l.starts_with("| `manual`")).unwrap();
        assert!(manual.contains("| native |") && manual.contains("deadline"), "{manual}");
        let dyn_ = table.lines().find(|l| l.starts_with("| `dyn`")).unwrap();
        assert!(dyn_.contains("refused (closed)") && dyn_.contains("Sources: [1](https://"), "{dyn_}");
        let fastdns = table.lines().find(|l| l.starts_with("| `fastdns`")).unwrap();
        assert!(fastdns.contains("edgedns") && fastdns.contains("Sources: [1](https://"), "{fastdns}");
        let (native, routed, refused) = counts(installer_codes());
        assert_eq!(native + routed + refused, 60);
        assert!(table.starts_with(&format!(
            "The installer's 60 codes: **{native} native, {routed} routed, {refused} refused**"
        )));
    }
}
