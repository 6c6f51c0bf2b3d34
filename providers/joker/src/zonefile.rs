//! Joker's zone text (`dns-zone-get` / `dns-zone-put`): one record per line,
//! `<label> <type> <pri> <target> <ttl> [<valid-from> <valid-to> <parameters>]`, the target
//! quoted when it holds spaces. The merge changes exactly one line, ours, and sends every
//! other line back byte for byte as read.

use wildcert_dns_api::txt_text;

/// The whitespace-separated fields of a line, a double-quoted field (with `\"` escapes)
/// kept whole, quotes included.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in line.chars() {
        if quoted {
            current.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quoted = false;
            }
            continue;
        }
        match c {
            '"' => {
                quoted = true;
                current.push(c);
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether `line` is a TXT record at `label` whose text is `value`.
pub fn is_txt(line: &str, label: &str, value: &str) -> bool {
    let f = fields(line);
    f.len() >= 4
        && f[0].eq_ignore_ascii_case(label)
        && f[1].eq_ignore_ascii_case("TXT")
        && txt_text(&f[3]) == value
}

/// The TXT values at `label`.
pub fn txt_values(zone: &str, label: &str) -> Vec<String> {
    zone.lines()
        .map(fields)
        .filter(|f| f.len() >= 4 && f[0].eq_ignore_ascii_case(label) && f[1].eq_ignore_ascii_case("TXT"))
        .map(|f| txt_text(&f[3]))
        .collect()
}

/// Our record's line. Challenge values are base64url, so no escaping is needed; quotes and
/// backslashes are escaped anyway.
pub fn txt_line(label: &str, value: &str, ttl: u32) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{label} TXT 0 \"{escaped}\" {ttl}")
}

/// The zone with our line added (unless the value is there already): `None` when nothing
/// changes.
pub fn with_txt(zone: &str, label: &str, value: &str, ttl: u32) -> Option<String> {
    if zone.lines().any(|l| is_txt(l, label, value)) {
        return None;
    }
    let mut out = zone.trim_end_matches(['\n', '\r']).to_string();
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&txt_line(label, value, ttl));
    out.push('\n');
    Some(out)
}

/// The zone without the TXT lines at `label` whose text is `value`: `None` when there are
/// none. Every other line stays as read.
pub fn without_txt(zone: &str, label: &str, value: &str) -> Option<String> {
    if !zone.lines().any(|l| is_txt(l, label, value)) {
        return None;
    }
    let kept: Vec<&str> = zone.lines().filter(|l| !is_txt(l, label, value)).collect();
    let mut out = kept.join("\n");
    out.push('\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "@ A 0 192.0.2.1 86400\nwww CNAME 0 @ 86400\n@ MX 10 mail.example.com. 86400\n@ TXT 0 \"v=spf1 include:_spf.example.com ~all\" 3600\n_acme-challenge.gradient TXT 0 \"other-value\" 300\n";

    #[test]
    fn fields_keep_quoted_targets_whole() {
        assert_eq!(
            fields("@ TXT 0 \"a b \\\" c\" 3600 0 0"),
            ["@", "TXT", "0", "\"a b \\\" c\"", "3600", "0", "0"]
        );
    }

    #[test]
    fn adds_one_line_and_keeps_the_rest() {
        let added = with_txt(ZONE, "_acme-challenge.gradient", "ours", 120).unwrap();
        assert!(added.starts_with(ZONE), "{added}");
        assert!(added.ends_with("_acme-challenge.gradient TXT 0 \"ours\" 120\n"), "{added}");
        assert_eq!(txt_values(&added, "_acme-challenge.gradient"), ["other-value", "ours"]);
        assert_eq!(with_txt(&added, "_Acme-Challenge.gradient", "ours", 120), None);
    }

    #[test]
    fn removes_only_our_value() {
        let added = with_txt(ZONE, "_acme-challenge.gradient", "ours", 120).unwrap();
        assert_eq!(without_txt(&added, "_acme-challenge.gradient", "ours").unwrap(), ZONE);
        assert_eq!(without_txt(ZONE, "_acme-challenge.gradient", "ours"), None);
        assert_eq!(txt_values(ZONE, "@"), ["v=spf1 include:_spf.example.com ~all"]);
    }
}
