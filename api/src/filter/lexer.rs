//! Turns a filter expression into tokens, each with the 1-based character column it starts at.
//!
//! Keywords (`and`, `or`, `not`, `is`, `empty`, `in`, `contains`, `matches`) come out as plain
//! [`TokenKind::Ident`]s; the parser decides what a word means from where it stands.

use super::FilterError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// A name: `[A-Za-z_][A-Za-z0-9_/]*`. Selector parts, bare-word values and keywords.
    Ident(String),
    /// A double-quoted (escapes expanded) or backtick (raw) string, without its quotes.
    Str(String),
    /// A base-10 integer or float, as written (`50`, `-3`, `0.5`, `1e3`).
    Number(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    EqEq,
    NotEq,
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// 1-based column, counted in characters.
    pub col: usize,
}

impl Token {
    /// How an error message names this token.
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Ident(s) if super::parser::is_keyword(s) => format!("{s:?}"),
            TokenKind::Ident(s) => format!("name {s:?}"),
            TokenKind::Str(s) => format!("string {s:?}"),
            TokenKind::Number(s) => format!("number {s}"),
            TokenKind::LParen => "\"(\"".into(),
            TokenKind::RParen => "\")\"".into(),
            TokenKind::LBracket => "\"[\"".into(),
            TokenKind::RBracket => "\"]\"".into(),
            TokenKind::Dot => "\".\"".into(),
            TokenKind::EqEq => "\"==\"".into(),
            TokenKind::NotEq => "\"!=\"".into(),
            TokenKind::End => "end of input".into(),
        }
    }
}

fn ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '/'
}

/// Splits `src` into tokens; the last one is always [`TokenKind::End`].
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, FilterError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let (kind, next) = match c {
            '(' => (TokenKind::LParen, i + 1),
            ')' => (TokenKind::RParen, i + 1),
            '[' => (TokenKind::LBracket, i + 1),
            ']' => (TokenKind::RBracket, i + 1),
            '.' => (TokenKind::Dot, i + 1),
            '=' if chars.get(i + 1) == Some(&'=') => (TokenKind::EqEq, i + 2),
            '!' if chars.get(i + 1) == Some(&'=') => (TokenKind::NotEq, i + 2),
            '"' => lex_quoted(&chars, i)?,
            '`' => lex_raw(&chars, i)?,
            c if c.is_ascii_digit() => lex_number(&chars, i)?,
            '-' if chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => lex_number(&chars, i)?,
            c if ident_start(c) => {
                let mut j = i + 1;
                while j < chars.len() && ident_char(chars[j]) {
                    j += 1;
                }
                (TokenKind::Ident(chars[i..j].iter().collect()), j)
            }
            _ => return Err(unexpected_char(&chars, i)),
        };
        out.push(Token { kind, col });
        i = next;
    }
    out.push(Token {
        kind: TokenKind::End,
        col: chars.len() + 1,
    });
    Ok(out)
}

fn unexpected_char(chars: &[char], i: usize) -> FilterError {
    let c = chars[i];
    let next = chars.get(i + 1).copied();
    let hint = match (c, next) {
        ('&', Some('&')) => " (use \"and\")",
        ('|', Some('|')) => " (use \"or\")",
        ('!', _) => " (use \"not\" or \"!=\")",
        ('=', _) => " (did you mean \"==\"?)",
        ('\'', _) => " (quote strings with \" or `)",
        _ => "",
    };
    FilterError::new(format!("unexpected character {c:?}{hint}"), i + 1)
}

/// A number runs over digits, letters, `_` and `.` so that `12ab` or `1.2.3` is one bad
/// token rather than a number followed by something confusing.
fn lex_number(chars: &[char], start: usize) -> Result<(TokenKind, usize), FilterError> {
    let mut j = start + 1;
    while j < chars.len() {
        let c = chars[j];
        let exp_sign = (c == '+' || c == '-') && matches!(chars[j - 1], 'e' | 'E');
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' || exp_sign {
            j += 1;
        } else {
            break;
        }
    }
    let text: String = chars[start..j].iter().collect();
    if !is_decimal_number(&text) {
        return Err(FilterError::new(
            format!("invalid number {text:?} (quote it to compare it as a string)"),
            start + 1,
        ));
    }
    Ok((TokenKind::Number(text), j))
}

/// `-?digits(.digits)?([eE][+-]?digits)?`
fn is_decimal_number(s: &str) -> bool {
    fn digits(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    }
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let j = digits(b, i);
    if j == i {
        return false;
    }
    i = j;
    if b.get(i) == Some(&b'.') {
        let j = digits(b, i + 1);
        if j == i + 1 {
            return false;
        }
        i = j;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let j = digits(b, i);
        if j == i {
            return false;
        }
        i = j;
    }
    i == b.len()
}

fn lex_raw(chars: &[char], start: usize) -> Result<(TokenKind, usize), FilterError> {
    match chars[start + 1..].iter().position(|&c| c == '`') {
        Some(n) => {
            let end = start + 1 + n;
            Ok((
                TokenKind::Str(chars[start + 1..end].iter().collect()),
                end + 1,
            ))
        }
        None => Err(FilterError::new(
            "unterminated raw string (missing closing \"`\")",
            start + 1,
        )),
    }
}

/// Double-quoted strings take Go-style escapes: `\" \\ \' \a \b \f \n \r \t \v`, `\xHH` (ASCII
/// only, since the result must be UTF-8), `\uHHHH` and `\UHHHHHHHH`.
fn lex_quoted(chars: &[char], start: usize) -> Result<(TokenKind, usize), FilterError> {
    let mut s = String::new();
    let mut i = start + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(FilterError::new(
                "unterminated string (missing closing '\"')",
                start + 1,
            ));
        };
        match c {
            '"' => return Ok((TokenKind::Str(s), i + 1)),
            '\\' => {
                let esc_col = i + 1;
                let Some(&e) = chars.get(i + 1) else {
                    return Err(FilterError::new(
                        "unterminated string (missing closing '\"')",
                        start + 1,
                    ));
                };
                i += 2;
                let simple = match e {
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\'' => Some('\''),
                    'a' => Some('\u{07}'),
                    'b' => Some('\u{08}'),
                    'f' => Some('\u{0C}'),
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    'v' => Some('\u{0B}'),
                    _ => None,
                };
                if let Some(ch) = simple {
                    s.push(ch);
                    continue;
                }
                let width = match e {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    _ => {
                        return Err(FilterError::new(
                            format!("unknown escape sequence \"\\{e}\" in string"),
                            esc_col,
                        ))
                    }
                };
                let hex: String = chars.iter().skip(i).take(width).collect();
                // from_str_radix alone would also take a leading '+'.
                let code =
                    if hex.chars().count() == width && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                        u32::from_str_radix(&hex, 16).ok()
                    } else {
                        None
                    };
                let ch = code
                    .filter(|&n| e != 'x' || n < 0x80)
                    .and_then(char::from_u32);
                match ch {
                    Some(ch) => s.push(ch),
                    None => {
                        return Err(FilterError::new(
                            format!("invalid escape sequence \"\\{e}{hex}\" in string"),
                            esc_col,
                        ))
                    }
                }
                i += width;
            }
            _ => {
                s.push(c);
                i += 1;
            }
        }
    }
}
