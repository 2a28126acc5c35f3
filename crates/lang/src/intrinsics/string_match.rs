//! The Choice rule `StringMatches`.

/// A pattern character after escape processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// `*`: zero or more characters.
    Star,
    Char(char),
}

/// Matches `value` against a Choice `StringMatches` pattern.
///
/// Only `*` is special: it matches zero or more characters. `\*` is a literal star and `\\`
/// a literal backslash; a backslash before any other character makes that character literal.
/// The whole value must match. A pattern ending in a lone backslash is an error.
pub fn string_matches(value: &str, pattern: &str) -> Result<bool, String> {
    let mut tokens = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => tokens.push(Token::Char(escaped)),
                None => {
                    return Err(format!(
                        "The StringMatches pattern '{pattern}' ends with an unterminated escape character"
                    ));
                }
            },
            // Consecutive stars match the same strings as one.
            '*' if tokens.last() == Some(&Token::Star) => {}
            '*' => tokens.push(Token::Star),
            c => tokens.push(Token::Char(c)),
        }
    }
    Ok(glob(&value.chars().collect::<Vec<_>>(), &tokens))
}

/// Wildcard matching that backtracks only to the most recent star, which is enough for
/// patterns whose sole wildcard is `*`.
fn glob(value: &[char], tokens: &[Token]) -> bool {
    let (mut v, mut t) = (0, 0);
    // After a star: the token following it and the value position it currently absorbs up to.
    let mut resume: Option<(usize, usize)> = None;
    while v < value.len() {
        match tokens.get(t) {
            Some(Token::Star) => {
                resume = Some((t + 1, v));
                t += 1;
                continue;
            }
            Some(Token::Char(c)) if *c == value[v] => {
                v += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match resume {
            Some((after_star, absorbed)) => {
                t = after_star;
                v = absorbed + 1;
                resume = Some((after_star, absorbed + 1));
            }
            None => return false,
        }
    }
    tokens[t..].iter().all(|token| *token == Token::Star)
}

#[cfg(test)]
mod tests {
    use super::string_matches;

    fn m(value: &str, pattern: &str) -> bool {
        string_matches(value, pattern).unwrap()
    }

    #[test]
    fn literal_patterns_match_exactly() {
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abcd", "abc"));
        assert!(!m("ABC", "abc"));
        assert!(m("", ""));
        assert!(!m("a", ""));
    }

    #[test]
    fn stars_match_any_run_of_characters() {
        assert!(m("log-2024.txt", "log-*.txt"));
        assert!(m("log-.txt", "log-*.txt"));
        assert!(!m("log-2024.csv", "log-*.txt"));
        assert!(m("anything", "*"));
        assert!(m("", "*"));
        assert!(m("", "**"));
        assert!(m("abc", "a*"));
        assert!(m("abc", "*c"));
        assert!(m("abc", "*b*"));
        assert!(m("aXbXc", "a*b*c"));
        assert!(m("mississippi", "m*iss*ppi"));
        assert!(!m("mississippi", "m*iss*ppx"));
        assert!(m("ababab", "*ab"));
        assert!(!m("ababa", "*ab"));
        assert!(m("é中文😀", "é*😀"));
        assert!(!m("ab", "a*c*"));
    }

    #[test]
    fn escapes() {
        assert!(m("a*b", "a\\*b"));
        assert!(!m("axb", "a\\*b"));
        assert!(m("a\\b", "a\\\\b"));
        assert!(m("a\\xyz", "a\\\\*"));
        assert!(m("*", "\\*"));
        assert!(m("ab", "\\a\\b"));
        assert!(m("x*y*z", "x\\**z"));
    }

    #[test]
    fn dangling_backslash_is_an_error() {
        assert!(string_matches("a", "a\\").is_err());
        assert!(string_matches("a", "\\").is_err());
        assert!(string_matches("a\\", "a\\\\").unwrap());
    }

    #[test]
    fn long_inputs_stay_fast() {
        let value = "a".repeat(20_000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!m(&value, &pattern));
    }
}
