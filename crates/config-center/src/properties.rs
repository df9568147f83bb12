//! A Java `.properties` reader with line and column numbers (java.util.Properties' syntax).
//!
//! Syntax, as `Properties.load` reads it: lines end with `\n`, `\r` or `\r\n`; a line whose first
//! non-blank character is `#` or `!` is a comment; a line ending in an odd number of backslashes
//! continues on the next one (whose leading blanks are dropped); the key runs to the first
//! unescaped `=`, `:` or blank, then blanks, at most one `=`/`:` and blanks again separate it from
//! the value; escapes are `\t \n \r \f \uXXXX`, and a backslash before any other character stands
//! for that character.
//!
//! Stricter than Java on purpose, because each of these is a mistake in a config file rather than
//! an intent: a malformed `\u` escape (Java throws too), an empty key, and a key defined twice
//! (Java silently keeps the last) are errors.

use std::collections::HashMap;

/// One `key=value` entry, unescaped, with the line its key starts on (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Where and why a document is not valid properties. Line and column are 1-based, columns count
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct PropertiesError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A character of a logical line and where it was in the text.
#[derive(Clone, Copy)]
struct Located {
    c: char,
    line: usize,
    column: usize,
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Splits `text` into natural lines, each as located characters without its terminator.
fn natural_lines(text: &str) -> Vec<Vec<Located>> {
    let mut lines = Vec::new();
    let mut current = Vec::new();
    let (mut line, mut column) = (1, 1);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\r' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut current));
                line += 1;
                column = 1;
            }
            c => {
                current.push(Located { c, line, column });
                column += 1;
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// Whether a natural line ends in an odd number of backslashes (it continues on the next line).
fn continues(line: &[Located]) -> bool {
    line.iter().rev().take_while(|l| l.c == '\\').count() % 2 == 1
}

/// Joins natural lines into logical lines, dropping comments and blank lines.
fn logical_lines(text: &str) -> Vec<Vec<Located>> {
    let mut logical = Vec::new();
    let mut lines = natural_lines(text).into_iter();
    while let Some(line) = lines.next() {
        let start = line.iter().position(|l| !is_blank(l.c));
        let Some(start) = start else { continue };
        if matches!(line[start].c, '#' | '!') {
            continue;
        }
        let mut joined: Vec<Located> = line[start..].to_vec();
        while continues(&joined) {
            joined.pop();
            match lines.next() {
                Some(next) => {
                    let start = next
                        .iter()
                        .position(|l| !is_blank(l.c))
                        .unwrap_or(next.len());
                    joined.extend_from_slice(&next[start..]);
                }
                None => break,
            }
        }
        logical.push(joined);
    }
    logical
}

/// Reads escapes from `chars[*at..]` up to (not including) the first unescaped character for
/// which `stop` holds. Leaves `*at` on that character.
fn read_escaped(
    chars: &[Located],
    at: &mut usize,
    stop: impl Fn(char) -> bool,
) -> Result<String, PropertiesError> {
    let mut out = String::new();
    while *at < chars.len() {
        let here = chars[*at];
        if here.c != '\\' {
            if stop(here.c) {
                break;
            }
            out.push(here.c);
            *at += 1;
            continue;
        }
        *at += 1;
        let Some(escaped) = chars.get(*at) else {
            break;
        };
        *at += 1;
        match escaped.c {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            'u' => {
                let digits: String = chars[*at..].iter().take(4).map(|l| l.c).collect();
                let value = (digits.len() == 4)
                    .then(|| u32::from_str_radix(&digits, 16).ok())
                    .flatten();
                let Some(value) = value else {
                    return Err(PropertiesError {
                        line: here.line,
                        column: here.column,
                        message: format!("malformed \\uXXXX escape \"\\u{digits}\""),
                    });
                };
                *at += 4;
                out.push(decode_utf16_escape(value, chars, at));
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The character of a `\uXXXX` escape whose value is `value`: a high surrogate followed by a
/// `\uXXXX` low surrogate is one character (Java strings are UTF-16); a lone surrogate, which
/// has no UTF-8 form, becomes U+FFFD.
fn decode_utf16_escape(value: u32, chars: &[Located], at: &mut usize) -> char {
    if (0xd800..0xdc00).contains(&value) {
        let next: String = chars[*at..].iter().take(6).map(|l| l.c).collect();
        if let Some(low) = next
            .strip_prefix("\\u")
            .filter(|digits| digits.len() == 4)
            .and_then(|digits| u32::from_str_radix(digits, 16).ok())
            .filter(|low| (0xdc00..0xe000).contains(low))
        {
            *at += 6;
            let combined = 0x10000 + ((value - 0xd800) << 10) + (low - 0xdc00);
            return char::from_u32(combined).unwrap_or(char::REPLACEMENT_CHARACTER);
        }
    }
    char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// Parses a properties document; see the module docs for the syntax and the extra checks.
pub fn parse(text: &str) -> Result<Vec<Property>, PropertiesError> {
    let mut properties = Vec::new();
    let mut first_line_of: HashMap<String, usize> = HashMap::new();
    for line in logical_lines(text) {
        let first = line[0];
        let mut at = 0;
        let key = read_escaped(&line, &mut at, |c| c == '=' || c == ':' || is_blank(c))?;
        while at < line.len() && is_blank(line[at].c) {
            at += 1;
        }
        if at < line.len() && matches!(line[at].c, '=' | ':') {
            at += 1;
        }
        while at < line.len() && is_blank(line[at].c) {
            at += 1;
        }
        let value = read_escaped(&line, &mut at, |_| false)?;
        if key.is_empty() {
            return Err(PropertiesError {
                line: first.line,
                column: first.column,
                message: "empty key".to_string(),
            });
        }
        if let Some(previous) = first_line_of.get(&key) {
            return Err(PropertiesError {
                line: first.line,
                column: first.column,
                message: format!("duplicate key {key:?} (first defined on line {previous})"),
            });
        }
        first_line_of.insert(key.clone(), first.line);
        properties.push(Property {
            key,
            value,
            line: first.line,
        });
    }
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn pair(key: &str, value: &str) -> (String, String) {
        (key.to_string(), value.to_string())
    }

    #[test]
    fn separators_comments_and_blanks() {
        let text = "# comment\n! also a comment\n\n  a=1\nb : 2\nc 3\nd\te=4\n  f=\ng\n";
        assert_eq!(
            pairs(text),
            vec![
                pair("a", "1"),
                pair("b", "2"),
                pair("c", "3"),
                pair("d", "e=4"),
                pair("f", ""),
                pair("g", ""),
            ]
        );
    }

    #[test]
    fn escapes_and_continuations() {
        let text = "path=c:\\\\dir\\tx\nkey\\ with\\=sep=v\nmulti=one, \\\n    two, \\\n\tthree\nuni=\\u00e9t\\u00E9\nodd=a\\\\\nnext=b\n";
        assert_eq!(
            pairs(text),
            vec![
                pair("path", "c:\\dir\tx"),
                pair("key with=sep", "v"),
                pair("multi", "one, two, three"),
                pair("uni", "été"),
                pair("odd", "a\\"),
                pair("next", "b"),
            ]
        );
    }

    #[test]
    fn line_endings_and_lines_of_keys() {
        let parsed = parse("a=1\r\nb=2\rc=3\n# x\nd=4").unwrap();
        let lines: Vec<usize> = parsed.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![1, 2, 3, 5]);
        // A comment line ending in a backslash does not swallow the next line.
        assert_eq!(pairs("# note \\\na=1"), vec![pair("a", "1")]);
        // A continuation line starting with '#' is part of the value.
        assert_eq!(pairs("a=1\\\n#2"), vec![pair("a", "1#2")]);
        assert_eq!(pairs("a=1\\"), vec![pair("a", "1")]);
        // Surrogate pairs combine; a lone surrogate has no UTF-8 form.
        assert_eq!(pairs("e=\\ud83d\\ude00!"), vec![pair("e", "😀!")]);
        assert_eq!(pairs("e=\\ud83dx"), vec![pair("e", "\u{fffd}x")]);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse("ok=1\nbad=x\\u12G4\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 6));
        assert!(err.message.contains("malformed \\uXXXX"), "{err}");
        let err = parse("a=1\nshort=\\u12").unwrap_err();
        assert_eq!((err.line, err.column), (2, 7));
        let err = parse("a=1\n  =nokey\n").unwrap_err();
        assert_eq!(
            (err.line, err.column, err.message.as_str()),
            (2, 3, "empty key")
        );
        let err = parse("a=1\nb=2\na=3\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 1));
        assert!(err.message.contains("first defined on line 1"), "{err}");
        assert_eq!(
            err.to_string(),
            "line 3, column 1: duplicate key \"a\" (first defined on line 1)"
        );
    }

    #[test]
    fn empty_and_comment_only_documents_have_no_properties() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("\n\n# only\n   \n").unwrap().is_empty());
    }
}
