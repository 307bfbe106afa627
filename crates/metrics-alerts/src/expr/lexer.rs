//! Splits an expression into tokens, each with its byte offset, so that a
//! parse error can point at the token a user wrote.

use super::ExprError;

/// A token's kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A name: metric, tag, function or `by`.
    Ident(String),
    /// A number with an optional unit suffix, as written (`0.1`, `2s`, `5m`, `5%`).
    Number(String),
    /// A double-quoted string, unescaped.
    Str(String),
    /// Punctuation or an operator.
    Punct(&'static str),
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// Byte offset in the expression.
    pub(crate) at: usize,
    /// The text as written.
    pub(crate) text: String,
}

const PUNCT: [&str; 17] = [
    ">=", "<=", "==", "=~", "!~", "!=", ">", "<", "=", "(", ")", "{", "}", "[", "]", ",", "/",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '.'
}

/// The tokens of `src`.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let rest = &src[at..];
        if is_ident_start(c) {
            let len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            let text = &rest[..len];
            out.push(Token {
                tok: Tok::Ident(text.to_owned()),
                at,
                text: text.to_owned(),
            });
            advance(&mut chars, at + len);
        } else if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|c: char| c.is_ascii_digit())) {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '%'))
                .unwrap_or(rest.len());
            let text = &rest[..len];
            out.push(Token {
                tok: Tok::Number(text.to_owned()),
                at,
                text: text.to_owned(),
            });
            advance(&mut chars, at + len);
        } else if c == '"' {
            let (value, len) = string_literal(rest).ok_or_else(|| ExprError {
                at,
                token: rest.to_owned(),
                message: "a string that is never closed (missing `\"`)".to_owned(),
            })?;
            out.push(Token {
                tok: Tok::Str(value),
                at,
                text: rest[..len].to_owned(),
            });
            advance(&mut chars, at + len);
        } else if let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) {
            out.push(Token {
                tok: Tok::Punct(p),
                at,
                text: (*p).to_owned(),
            });
            advance(&mut chars, at + p.len());
        } else {
            return Err(ExprError {
                at,
                token: c.to_string(),
                message: format!("unexpected character `{c}`"),
            });
        }
    }
    Ok(out)
}

fn advance(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, to: usize) {
    while chars.peek().is_some_and(|&(i, _)| i < to) {
        chars.next();
    }
}

/// A `"..."` literal at the start of `s` (with `\"` and `\\` escapes):
/// its value and its length in bytes.
fn string_literal(s: &str) -> Option<(String, usize)> {
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match (escaped, c) {
            (true, 'n') => {
                value.push('\n');
                escaped = false;
            }
            (true, c) => {
                value.push(c);
                escaped = false;
            }
            (false, '\\') => escaped = true,
            (false, '"') => return Some((value, i + 1)),
            (false, c) => value.push(c),
        }
    }
    None
}
