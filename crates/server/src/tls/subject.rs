//! The subject of an X.509 certificate as an RFC 2253 string (`CN=client,O=Example`), the
//! form Java's `X500Principal.getName()` gives and ZooKeeper's x509 authentication uses as the
//! `x509` ACL id.
//!
//! A small DER walker rather than a certificate-parsing library: only the path to the subject
//! is read (the certificate was already verified by rustls), and every read is bounds-checked,
//! so a malformed certificate gives `None`, never a panic.

/// One TLV: tag and content.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    /// The whole encoding (tag, length, content), for `#hex` values.
    raw: &'a [u8],
}

/// Reads DER TLVs from a byte slice.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn next(&mut self) -> Option<Tlv<'a>> {
        let data = self.data;
        let tag = *data.first()?;
        let first = *data.get(1)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None; // indefinite or absurd lengths are not DER
            }
            let bytes = data.get(2..2 + count)?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + count)
        };
        let end = header.checked_add(len)?;
        let content = data.get(header..end)?;
        let raw = data.get(..end)?;
        self.data = data.get(end..)?;
        Some(Tlv { tag, content, raw })
    }

    /// The next TLV, which must have `tag`.
    fn expect(&mut self, tag: u8) -> Option<Tlv<'a>> {
        self.next().filter(|t| t.tag == tag)
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0;

/// The subject of a DER certificate, RFC 2253 style; `None` if the encoding is malformed.
pub fn subject_dn(certificate: &[u8]) -> Option<String> {
    let cert = Reader::new(certificate).expect(SEQUENCE)?;
    let mut tbs = Reader::new(Reader::new(cert.content).expect(SEQUENCE)?.content);
    let mut field = tbs.next()?;
    if field.tag == VERSION {
        field = tbs.next()?;
    }
    if field.tag != INTEGER {
        return None; // serialNumber
    }
    tbs.expect(SEQUENCE)?; // signature algorithm
    tbs.expect(SEQUENCE)?; // issuer
    tbs.expect(SEQUENCE)?; // validity
    let subject = tbs.expect(SEQUENCE)?;
    name_to_rfc2253(subject.content)
}

/// An RDNSequence: RDNs in reverse order, `,` between them, `+` inside a multi-valued one.
fn name_to_rfc2253(rdns: &[u8]) -> Option<String> {
    let mut reader = Reader::new(rdns);
    let mut parts = Vec::new();
    while !reader.is_empty() {
        let set = reader.expect(SET)?;
        let mut attributes = Reader::new(set.content);
        let mut values = Vec::new();
        while !attributes.is_empty() {
            let attribute = attributes.expect(SEQUENCE)?;
            let mut fields = Reader::new(attribute.content);
            let oid = decode_oid(fields.expect(OID)?.content)?;
            let value = fields.next()?;
            values.push(attribute_to_string(&oid, &value));
        }
        parts.push(values.join("+"));
    }
    parts.reverse();
    Some(parts.join(","))
}

fn decode_oid(bytes: &[u8]) -> Option<String> {
    let (first, rest) = bytes.split_first()?;
    let mut arcs = vec![u64::from(first / 40).min(2), 0];
    arcs[1] = u64::from(*first) - arcs[0] * 40;
    let mut value: u64 = 0;
    for b in rest {
        value = value.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
        if b & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    if rest.last().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// The keywords Java's RFC 2253 output uses; other attributes are written as `<oid>=#<hex>`.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn attribute_to_string(oid: &str, value: &Tlv<'_>) -> String {
    match (keyword(oid), decode_string(value)) {
        (Some(key), Some(text)) => format!("{key}={}", escape(&text)),
        _ => {
            let hex: String = value.raw.iter().map(|b| format!("{b:02x}")).collect();
            format!("{oid}=#{hex}")
        }
    }
}

/// The directory string types certificates use.
fn decode_string(value: &Tlv<'_>) -> Option<String> {
    match value.tag {
        // UTF8String, PrintableString, IA5String, NumericString, VisibleString
        0x0c | 0x13 | 0x16 | 0x12 | 0x1a => String::from_utf8(value.content.to_vec()).ok(),
        // TeletexString: treated as Latin-1
        0x14 => Some(value.content.iter().map(|b| char::from(*b)).collect()),
        // BMPString: UTF-16BE
        0x1e => {
            if !value.content.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = value
                .content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32BE
        0x1c => {
            if !value.content.len().is_multiple_of(4) {
                return None;
            }
            value
                .content
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

/// RFC 2253 escaping: `,+"\<>;` anywhere, `#` or a space at the start, a space at the end.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(dn: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        for (kind, value) in dn {
            name.push(kind.clone(), *value);
        }
        params.distinguished_name = name;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn subjects_print_like_java_rfc2253() {
        let der = certificate(&[
            (rcgen::DnType::CountryName, "DE"),
            (rcgen::DnType::OrganizationName, "Example, Inc."),
            (rcgen::DnType::OrganizationalUnitName, "ops"),
            (rcgen::DnType::CommonName, "client one"),
        ]);
        assert_eq!(
            subject_dn(&der).as_deref(),
            Some("CN=client one,OU=ops,O=Example\\, Inc.,C=DE")
        );
    }

    #[test]
    fn unknown_attributes_are_written_as_hex() {
        let der = certificate(&[
            (rcgen::DnType::CommonName, "svc"),
            (
                rcgen::DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                "a@b",
            ),
        ]);
        let dn = subject_dn(&der).unwrap();
        assert!(dn.starts_with("1.2.840.113549.1.9.1=#"), "{dn}");
        assert!(dn.ends_with(",CN=svc"), "{dn}");
    }

    #[test]
    fn escaping_follows_rfc2253() {
        assert_eq!(escape("#a b "), "\\#a b\\ ");
        assert_eq!(escape(" x"), "\\ x");
        assert_eq!(escape("a+b;c<d>\"e\\"), "a\\+b\\;c\\<d\\>\\\"e\\\\");
    }

    #[test]
    fn malformed_input_gives_none_never_a_panic() {
        let der = certificate(&[(rcgen::DnType::CommonName, "x")]);
        for cut in 0..der.len() {
            let _ = subject_dn(&der[..cut]);
        }
        assert_eq!(subject_dn(&[]), None);
        assert_eq!(subject_dn(&[0x30, 0x80, 0, 0]), None);
        assert_eq!(subject_dn(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        let mut flipped = der.clone();
        for i in 0..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = subject_dn(&flipped);
            flipped[i] ^= 0xff;
        }
        assert_eq!(decode_oid(&[0x2a, 0x86]), None);
        assert_eq!(decode_oid(&[0x55, 0x04, 0x03]).as_deref(), Some("2.5.4.3"));
    }
}
