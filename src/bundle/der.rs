//! Just enough DER reading to recognise keys and containers. Bounds-checked, never panics,
//! never allocates: untrusted bytes go through here.

pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const SEQUENCE: u8 = 0x30;
/// `[0]` and `[1]`, constructed, context-specific.
pub(crate) const CONTEXT_0: u8 = 0xa0;
pub(crate) const CONTEXT_1: u8 = 0xa1;

pub(crate) const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub(crate) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub(crate) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
pub(crate) const OID_PKCS7_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
pub(crate) const OID_PKCS7_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];

/// One tag-length-value element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
}

/// Reads one element; returns it and what follows. Single-byte tags only (all we need).
pub(crate) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((Tlv { tag, value }, rest))
}

/// Reads one element that must fill `input` exactly and carry `tag`.
pub(crate) fn read_exact(input: &[u8], tag: u8) -> Option<&[u8]> {
    match read(input)? {
        (tlv, []) if tlv.tag == tag => Some(tlv.value),
        _ => None,
    }
}

/// The elements inside a constructed value, in order; `None` if any is malformed.
pub(crate) fn children(value: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let (tlv, next) = read(rest)?;
        out.push(tlv);
        rest = next;
    }
    Some(out)
}

/// An INTEGER's magnitude without DER's leading zero byte(s).
pub(crate) fn unsigned(value: &[u8]) -> &[u8] {
    let zeros = value.iter().take_while(|&&b| b == 0).count();
    &value[zeros.min(value.len().saturating_sub(1))..]
}

/// Dotted form of an OID, for messages about algorithms we do not know.
pub(crate) fn oid_to_string(value: &[u8]) -> String {
    let Some((&first, rest)) = value.split_first() else { return "(empty OID)".into() };
    let mut parts = vec![(first / 40).min(2).to_string(), (first - 40 * (first / 40).min(2)).to_string()];
    let mut acc: u64 = 0;
    for &b in rest {
        acc = acc.saturating_mul(128).saturating_add((b & 0x7f) as u64);
        if b & 0x80 == 0 {
            parts.push(acc.to_string());
            acc = 0;
        }
    }
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let (tlv, rest) = read(&[0x04, 0x02, 0xaa, 0xbb, 0xff]).unwrap();
        assert_eq!(tlv, Tlv { tag: OCTET_STRING, value: &[0xaa, 0xbb] });
        assert_eq!(rest, &[0xff]);
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 128]);
        assert_eq!(read(&long).unwrap().0.value.len(), 128);
    }

    #[test]
    fn refuses_truncated_and_oversized_input() {
        assert!(read(&[]).is_none());
        assert!(read(&[0x30]).is_none());
        assert!(read(&[0x30, 0x05, 0x00]).is_none());
        assert!(read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(read(&[0x1f, 0x01, 0x00]).is_none());
        assert!(children(&[0x02, 0x01, 0x00, 0x02]).is_none());
    }

    #[test]
    fn oid_text() {
        assert_eq!(oid_to_string(OID_P256), "1.2.840.10045.3.1.7");
        assert_eq!(oid_to_string(OID_ED25519), "1.3.101.112");
    }

    #[test]
    fn integer_magnitude() {
        assert_eq!(unsigned(&[0x00, 0x80, 0x01]), &[0x80, 0x01]);
        assert_eq!(unsigned(&[0x00]), &[0x00]);
    }
}
