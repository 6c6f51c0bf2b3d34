//! A forgiving PEM reader: finds `-----BEGIN X-----` … `-----END X-----` blocks in text that
//! went through editors, mail clients, Windows and web forms.
//!
//! Tolerated without comment: a UTF-8 or UTF-16 byte order mark, CRLF or CR line ends, blank
//! lines, indentation, text before, between and after blocks (`openssl` prints `subject=`
//! and `Bag Attributes` lines there), a missing final newline, and a whole block pasted onto
//! one line. Reported with a line number: a block without its END line, an END with a
//! different label, and a body that is not base64.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// One decoded block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub label: String,
    /// 1-based line of the BEGIN marker.
    pub line: usize,
    /// `Proc-Type: 4,ENCRYPTED` was among the headers (legacy OpenSSL key encryption).
    pub encrypted: bool,
    pub der: Vec<u8>,
}

/// What is broken about a block; the block itself is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Flaw {
    pub line: usize,
    pub label: String,
    pub detail: String,
}

#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub blocks: Vec<Block>,
    pub flaws: Vec<Flaw>,
    /// How many BEGIN markers were seen: zero means the input is not PEM at all.
    pub begins: usize,
}

const BEGIN: &str = "-----BEGIN ";
const END: &str = "-----END ";
const DASHES: &str = "-----";

/// Decodes input text: strips a byte order mark, decodes UTF-16 when marked as such.
pub(crate) fn text(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        return String::from_utf8_lossy(rest).into_owned();
    }
    let utf16 = |rest: &[u8], le: bool| {
        let units = rest
            .chunks_exact(2)
            .map(|c| if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) });
        char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
    };
    if let Some(rest) = bytes.strip_prefix(b"\xff\xfe") {
        return utf16(rest, true);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xfe\xff") {
        return utf16(rest, false);
    }
    String::from_utf8_lossy(bytes).into_owned()
}

/// Finds and decodes every block.
pub(crate) fn scan(bytes: &[u8]) -> Scan {
    let text = text(bytes);
    let newlines: Vec<usize> = text.match_indices('\n').map(|(i, _)| i).collect();
    let line_of = |pos: usize| newlines.partition_point(|&n| n < pos) + 1;
    let mut scan = Scan::default();
    let mut pos = 0;
    let mut end_seen: Option<(usize, Option<usize>)> = None;
    while let Some(found) = text[pos..].find(BEGIN) {
        let begin = pos + found;
        let label_start = begin + BEGIN.len();
        let Some(label) = marker_label(&text[label_start..]) else {
            pos = label_start;
            continue;
        };
        scan.begins += 1;
        let line = line_of(begin);
        let body_start = label_start + label.len() + DASHES.len();
        let next_begin = text[body_start..].find(BEGIN).map(|i| body_start + i);
        // The next END at or after `body_start`, found again only when the last one found
        // lies behind (keeps many BEGINs without END linear).
        let end = match end_seen {
            Some((from, found)) if from <= body_start && found.is_none_or(|e| e >= body_start) => found,
            _ => {
                let found = text[body_start..].find(END).map(|i| body_start + i);
                end_seen = Some((body_start, found));
                found
            }
        };
        let end = match (end, next_begin) {
            (Some(end), Some(next)) if next < end => None,
            (end, _) => end,
        };
        let Some(end) = end else {
            scan.flaws.push(Flaw {
                line,
                label: label.to_string(),
                detail: format!("the {label} block that starts here has no -----END {label}----- line"),
            });
            pos = next_begin.unwrap_or(text.len());
            continue;
        };
        let end_label_start = end + END.len();
        let end_label = marker_label(&text[end_label_start..]);
        pos = end_label_start + end_label.map(|l| l.len() + DASHES.len()).unwrap_or(0);
        if end_label != Some(label) {
            scan.flaws.push(Flaw {
                line: line_of(end),
                label: label.to_string(),
                detail: format!(
                    "the {label} block that starts on line {line} ends with -----END {}----- instead of -----END {label}-----",
                    end_label.unwrap_or("?")
                ),
            });
            continue;
        }
        let body = &text[body_start..end];
        match decode_body(body) {
            Ok((der, encrypted)) => {
                scan.blocks.push(Block { label: label.to_string(), line, encrypted, der })
            }
            Err(offset) => scan.flaws.push(Flaw {
                line: line_of(body_start + offset),
                label: label.to_string(),
                detail: format!(
                    "the {label} block that starts on line {line} contains text that is not base64"
                ),
            }),
        }
    }
    scan
}

/// The label of a marker: up to the closing dashes, on one line, of sane length.
fn marker_label(rest: &str) -> Option<&str> {
    let close = rest.find(DASHES)?;
    let label = &rest[..close];
    let sane = !label.is_empty()
        && label.len() <= 64
        && label.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'#');
    sane.then_some(label)
}

/// Decodes a body: optional RFC 1421 headers (`Name: value` lines before the base64), then
/// base64 with any whitespace. Returns the DER and whether a header said the block is
/// encrypted, or the byte offset of the first character that is not base64.
fn decode_body(body: &str) -> Result<(Vec<u8>, bool), usize> {
    let mut encrypted = false;
    let mut b64 = String::with_capacity(body.len());
    let mut first_b64_offset = None;
    let mut in_headers = true;
    let mut offset = 0;
    for raw_line in body.split_inclusive('\n') {
        let line = raw_line.trim();
        let line_offset = offset + (raw_line.len() - raw_line.trim_start().len());
        offset += raw_line.len();
        if line.is_empty() {
            continue;
        }
        if in_headers && line.contains(':') {
            if line.to_ascii_lowercase().starts_with("proc-type:")
                && line.to_ascii_uppercase().contains("ENCRYPTED")
            {
                encrypted = true;
            }
            continue;
        }
        in_headers = false;
        for (i, c) in line.char_indices() {
            if c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=' {
                b64.push(c);
            } else if !c.is_whitespace() {
                return Err(line_offset + i);
            }
        }
        first_b64_offset.get_or_insert(line_offset);
    }
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let der = engine.decode(b64.trim_end_matches('=')).map_err(|_| first_b64_offset.unwrap_or(0))?;
    if der.is_empty() {
        return Err(first_b64_offset.unwrap_or(0));
    }
    Ok((der, encrypted))
}

/// Standard PEM: 64-character lines, LF line ends, a final newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ascii"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DER: &[u8] = b"not really DER but any bytes will do for framing tests";

    fn block() -> String {
        encode("CERTIFICATE", DER)
    }

    #[test]
    fn round_trip() {
        let scan = scan(block().as_bytes());
        assert_eq!(scan.blocks.len(), 1);
        assert_eq!(scan.blocks[0].der, DER);
        assert_eq!(scan.blocks[0].line, 1);
        assert!(scan.flaws.is_empty());
    }

    #[test]
    fn tolerates_windows_editors_and_junk() {
        let pem = block();
        let crlf = pem.replace('\n', "\r\n");
        let noisy = format!(
            "\u{feff}subject=CN=example\r\n\r\n  {}\r\nBag Attributes\n\n{}",
            crlf.trim_end(),
            pem.trim_end()
        );
        let scan = scan(noisy.as_bytes());
        assert_eq!(scan.blocks.len(), 2, "{:?}", scan.flaws);
        assert!(scan.blocks.iter().all(|b| b.der == DER));
        assert!(scan.flaws.is_empty());
    }

    #[test]
    fn reads_utf16_with_bom() {
        let mut bytes = vec![0xff, 0xfe];
        for unit in block().encode_utf16() {
            bytes.extend(unit.to_le_bytes());
        }
        assert_eq!(scan(&bytes).blocks[0].der, DER);
    }

    #[test]
    fn reads_a_block_pasted_onto_one_line() {
        let one_line = block().replace('\n', " ");
        let scan = scan(one_line.as_bytes());
        assert_eq!(scan.blocks.len(), 1);
        assert_eq!(scan.blocks[0].der, DER);
    }

    #[test]
    fn reports_a_missing_end_with_its_line() {
        let pem = block();
        let truncated = format!("junk\n{}", &pem[..pem.len() - 30]);
        let scan = scan(truncated.as_bytes());
        assert!(scan.blocks.is_empty());
        assert_eq!(scan.flaws.len(), 1);
        assert_eq!(scan.flaws[0].line, 2);
        assert!(scan.flaws[0].detail.contains("no -----END CERTIFICATE----- line"));
    }

    #[test]
    fn a_truncated_block_does_not_swallow_the_next() {
        let pem = block();
        let text = format!("{}\n{}", &pem[..40], pem);
        let scan = scan(text.as_bytes());
        assert_eq!(scan.blocks.len(), 1);
        assert_eq!(scan.flaws.len(), 1);
        assert_eq!(scan.begins, 2);
    }

    #[test]
    fn reports_mismatched_end_and_bad_base64() {
        let wrong_end = block().replace("END CERTIFICATE", "END PRIVATE KEY");
        assert!(scan(wrong_end.as_bytes()).flaws[0].detail.contains("instead of"));
        let bad = block().replacen("bm90", "b*90", 1);
        let scan = scan(bad.as_bytes());
        assert_eq!(scan.flaws[0].line, 2);
        assert!(scan.flaws[0].detail.contains("not base64"));
    }

    #[test]
    fn sees_legacy_encryption_headers() {
        let pem = encode("RSA PRIVATE KEY", DER).replacen(
            "-----\n",
            "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n",
            1,
        );
        let scan = scan(pem.as_bytes());
        assert!(scan.blocks[0].encrypted);
    }

    #[test]
    fn many_unterminated_blocks_stay_fast() {
        let text = "-----BEGIN CERTIFICATE-----\nAAAA\n".repeat(20_000);
        let started = std::time::Instant::now();
        let scan = scan(text.as_bytes());
        assert_eq!((scan.begins, scan.flaws.len()), (20_000, 20_000));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn text_without_markers_is_not_pem() {
        let scan = scan(b"\x30\x82\x01\x00 binary");
        assert_eq!(scan.begins, 0);
        assert!(scan.blocks.is_empty() && scan.flaws.is_empty());
    }
}
