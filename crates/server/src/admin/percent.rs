//! Percent-decoding of request paths and query strings (RFC 3986; `+` is a space in queries,
//! as HTML forms and most HTTP clients encode it).

/// Why a path or query could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("bad percent-escape at byte {0}")]
    BadEscape(usize),
    #[error("the decoded text is not UTF-8")]
    NotUtf8,
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode(text: &str, plus_is_space: bool) -> Result<String, DecodeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let pair = bytes
                    .get(i + 1)
                    .copied()
                    .and_then(hex)
                    .zip(bytes.get(i + 2).copied().and_then(hex));
                let (hi, lo) = pair.ok_or(DecodeError::BadEscape(i))?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// Decodes a request path (`+` stays a plus sign).
pub fn decode_path(path: &str) -> Result<String, DecodeError> {
    decode(path, false)
}

/// Splits and decodes a query string into `(name, value)` pairs, in order. A parameter
/// without `=` has an empty value; empty pieces (`a=1&&b=2`) are skipped.
pub fn decode_query(query: &str) -> Result<Vec<(String, String)>, DecodeError> {
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            Ok((decode(name, true)?, decode(value, true)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_decode_escapes_but_keep_plus() {
        assert_eq!(
            decode_path("/api/v1/config/a%20b+c").unwrap(),
            "/api/v1/config/a b+c"
        );
        assert_eq!(decode_path("/%E4%B8%AD").unwrap(), "/中");
        assert_eq!(decode_path("/x%2Fy").unwrap(), "/x/y");
    }

    #[test]
    fn bad_escapes_and_non_utf8_are_errors() {
        assert_eq!(decode_path("/a%2"), Err(DecodeError::BadEscape(2)));
        assert_eq!(decode_path("/a%zz"), Err(DecodeError::BadEscape(2)));
        assert_eq!(decode_path("/%ff"), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn queries_split_in_order_with_plus_as_space() {
        assert_eq!(
            decode_query("watch=1&msg=hello+world%21&&flag&k%3D=v%26").unwrap(),
            vec![
                ("watch".into(), "1".into()),
                ("msg".into(), "hello world!".into()),
                ("flag".into(), String::new()),
                ("k=".into(), "v&".into()),
            ]
        );
        assert_eq!(decode_query("").unwrap(), vec![]);
        assert!(decode_query("a=%").is_err());
    }
}
