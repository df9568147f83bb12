//! Splitting an interactive input line into words.

use std::fmt;

/// A line ended inside a quoted string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnterminatedQuote;

impl fmt::Display for UnterminatedQuote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unterminated quote")
    }
}

impl std::error::Error for UnterminatedQuote {}

/// Splits `line` into words separated by whitespace.
///
/// Text inside `"..."` or `'...'` keeps its whitespace and loses the quotes, so
/// `create /a "hello world"` has three words and `""` is one empty word, as in zkCli.
/// There are no escape sequences (zkCli has none either).
pub fn split_words(line: &str) -> Result<Vec<String>, UnterminatedQuote> {
    let mut words = Vec::new();
    let mut current = String::new();
    // A word exists once any character (or a pair of quotes) has been seen, even if it is empty.
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                in_word = true;
                let quote = c;
                loop {
                    match chars.next() {
                        Some(q) if q == quote => break,
                        Some(other) => current.push(other),
                        None => return Err(UnterminatedQuote),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_words(line).expect("valid line")
    }

    #[test]
    fn splits_on_any_whitespace() {
        assert_eq!(words("  ls \t -s   /a  "), ["ls", "-s", "/a"]);
        assert!(words("   ").is_empty());
    }

    #[test]
    fn double_and_single_quotes_keep_spaces() {
        assert_eq!(
            words(r#"create /a "hello world""#),
            ["create", "/a", "hello world"]
        );
        assert_eq!(words("set /a 'x  y'"), ["set", "/a", "x  y"]);
        assert_eq!(words(r#"set /a 'say "hi"'"#), ["set", "/a", r#"say "hi""#]);
    }

    #[test]
    fn empty_quotes_are_an_empty_word() {
        assert_eq!(
            words(r#"create /a "" world:anyone:r"#),
            ["create", "/a", "", "world:anyone:r"]
        );
    }

    #[test]
    fn quoted_parts_join_adjacent_text() {
        assert_eq!(words(r#"set /a key="v 1""#), ["set", "/a", "key=v 1"]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        assert_eq!(split_words(r#"set /a "oops"#), Err(UnterminatedQuote));
    }
}
