//! Splits template source into text and the tokens inside `{{ }}` (or the delimiters a template
//! chose, as Go's `Delims`).
//!
//! The whole source is tokenized up front. A lexical error becomes the last token, so the
//! parser reports it only if it gets that far, and an earlier syntax error wins, as in Go.

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    /// Text outside actions, already trimmed by any adjacent trim marker.
    Text(String),
    Left,
    Right,
    Ident(String),
    Keyword(&'static str),
    /// `.Name`, stored without the dot.
    Field(String),
    /// `$name` or `$`, stored with the dollar.
    Variable(String),
    Dot,
    Bool(bool),
    Nil,
    /// Number text as written; the parser gives it a value.
    Number(String),
    /// A character constant's code point (Go treats it as an integer).
    CharConst(i64),
    /// String constant, escapes already decoded.
    Str(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    /// Any other printable ASCII character (`,` in range declarations, or a syntax error).
    Other(char),
    Error(String),
    Eof,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
    /// Whitespace precedes the token: separates arguments, and stops `.A` chaining onto a term.
    pub spaced: bool,
}

static KEYWORDS: [&str; 10] = [
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The action delimiters: `{{` and `}}` unless a template sets its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delims {
    pub left: String,
    pub right: String,
}

impl Default for Delims {
    fn default() -> Self {
        Delims {
            left: "{{".into(),
            right: "}}".into(),
        }
    }
}

pub(super) fn lex_with(src: &str, delims: &Delims) -> Vec<Token> {
    let mut lx = Lexer {
        src,
        left: &delims.left,
        right: &delims.right,
        pos: 0,
        toks: Vec::new(),
        trim_next: false,
        err_pos: None,
    };
    lx.run();
    lx.toks
}

struct Lexer<'s> {
    src: &'s str,
    left: &'s str,
    right: &'s str,
    pos: usize,
    toks: Vec<Token>,
    /// The previous action ended with ` -}}`.
    trim_next: bool,
    /// Where a failing scan found the offending character, if not at the token start.
    err_pos: Option<usize>,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn push(&mut self, tok: Tok, start: usize, spaced: bool) {
        self.toks.push(Token {
            tok,
            start,
            end: self.pos,
            spaced,
        });
    }

    fn run(&mut self) {
        loop {
            let start = self.pos;
            let delim = self.rest().find(self.left).map(|i| start + i);
            let text_end = delim.unwrap_or(self.src.len());
            let after = self.src.get(text_end + self.left.len()..).unwrap_or("");
            let left_trim = delim.is_some() && has_left_trim(after);
            let mut text = self.src.get(start..text_end).unwrap_or("");
            if std::mem::take(&mut self.trim_next) {
                text = text.trim_start_matches(is_space);
            }
            if left_trim {
                text = text.trim_end_matches(is_space);
            }
            self.pos = text_end;
            if !text.is_empty() {
                self.toks.push(Token {
                    tok: Tok::Text(text.to_string()),
                    start,
                    end: text_end,
                    spaced: false,
                });
            }
            if delim.is_none() {
                self.push(Tok::Eof, self.pos, false);
                return;
            }
            if !self.action(left_trim) {
                return;
            }
        }
    }

    /// Lexes one action starting at the left delimiter; false once an error token ends the
    /// stream.
    fn action(&mut self, left_trim: bool) -> bool {
        let open = self.pos;
        self.pos += self.left.len() + if left_trim { 2 } else { 0 };
        if self.rest().starts_with("/*") {
            return self.comment(open);
        }
        self.push(Tok::Left, open, false);
        let mut spaced = false;
        loop {
            let rest = self.rest();
            if rest.starts_with(self.right) {
                let start = self.pos;
                self.pos += self.right.len();
                self.push(Tok::Right, start, spaced);
                return true;
            }
            let Some(c) = self.peek() else {
                self.push(Tok::Error("unclosed action".into()), open, false);
                return false;
            };
            if is_space(c) {
                if self.right_trim_at(rest.get(1..)) {
                    let start = self.pos;
                    self.pos += 2 + self.right.len();
                    self.push(Tok::Right, start, true);
                    self.trim_next = true;
                    return true;
                }
                self.pos += 1;
                spaced = true;
                continue;
            }
            let start = self.pos;
            match self.token(c) {
                Ok(tok) => self.push(tok, start, spaced),
                Err(msg) => {
                    let at = self.err_pos.take().unwrap_or(start);
                    self.push(Tok::Error(msg), at, spaced);
                    return false;
                }
            }
            spaced = false;
        }
    }

    /// `{{/* ... */}}`: a comment must fill the whole action, as Go requires.
    fn comment(&mut self, open: usize) -> bool {
        let body = self.pos;
        let Some(close) = self.rest().find("*/") else {
            self.push(Tok::Error("unclosed comment".into()), open, false);
            return false;
        };
        self.pos = body + close + 2;
        let rest = self.rest();
        if rest.starts_with(self.right) {
            self.pos += self.right.len();
        } else if rest.starts_with(is_space) && self.right_trim_at(rest.get(1..)) {
            self.pos += 2 + self.right.len();
            self.trim_next = true;
        } else {
            let msg = format!(
                "comment ends before closing delimiter: write {}/* ... */{}",
                self.left, self.right
            );
            self.push(Tok::Error(msg), self.pos, false);
            return false;
        }
        true
    }

    /// Whether `rest` (just after a space) is `-` and the right delimiter: ` -}}` trims.
    fn right_trim_at(&self, rest: Option<&str>) -> bool {
        rest.and_then(|r| r.strip_prefix('-'))
            .is_some_and(|r| r.starts_with(self.right))
    }

    /// Scans the token that starts with `c` (not whitespace, not the closing delimiter).
    fn token(&mut self, c: char) -> Result<Tok, String> {
        let next = self.rest().chars().nth(1);
        let tok = match c {
            '|' => Tok::Pipe,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '=' => Tok::Assign,
            ':' if next == Some('=') => {
                self.pos += 2;
                return Ok(Tok::Declare);
            }
            ':' => return Err("expected :=".into()),
            '"' => return self.quoted(),
            '`' => return self.raw(),
            '\'' => return self.char_const(),
            '$' => return self.field_or_variable(true),
            '.' if !next.is_some_and(|n| n.is_ascii_digit()) => {
                return self.field_or_variable(false)
            }
            '.' | '+' | '-' | '0'..='9' => return self.number(),
            c if c == '_' || c.is_alphabetic() => return self.identifier(),
            c if c.is_ascii() && !c.is_ascii_control() => Tok::Other(c),
            c => {
                return Err(format!(
                    "unrecognized character in action: {}",
                    describe_char(c)
                ))
            }
        };
        self.bump();
        Ok(tok)
    }

    /// Whether the current position ends a word: what may follow an identifier or field.
    fn at_terminator(&self) -> bool {
        let rest = self.rest();
        match rest.chars().next() {
            None => true,
            Some(c) if is_space(c) || ".,|:()".contains(c) => true,
            Some(_) => rest.starts_with(self.right),
        }
    }

    fn word_end(&mut self) -> Result<(), String> {
        if self.at_terminator() {
            return Ok(());
        }
        let c = self.peek().unwrap_or(' ');
        self.err_pos = Some(self.pos);
        Err(format!("bad character {}", describe_char(c)))
    }

    fn field_or_variable(&mut self, variable: bool) -> Result<Tok, String> {
        let start = self.pos;
        self.bump();
        if self.at_terminator() {
            return Ok(if variable {
                Tok::Variable("$".into())
            } else {
                Tok::Dot
            });
        }
        while self.peek().is_some_and(is_alnum) {
            self.bump();
        }
        self.word_end()?;
        let name = self.src.get(start..self.pos).unwrap_or("");
        Ok(if variable {
            Tok::Variable(name.to_string())
        } else {
            Tok::Field(name.get(1..).unwrap_or("").to_string())
        })
    }

    fn identifier(&mut self) -> Result<Tok, String> {
        let start = self.pos;
        while self.peek().is_some_and(is_alnum) {
            self.bump();
        }
        self.word_end()?;
        let word = self.src.get(start..self.pos).unwrap_or("");
        Ok(match word {
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            "nil" => Tok::Nil,
            w => match KEYWORDS.iter().copied().find(|k| *k == w) {
                Some(k) => Tok::Keyword(k),
                None => Tok::Ident(w.to_string()),
            },
        })
    }

    fn accept_run(&mut self, ok: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&ok) {
            self.bump();
        }
    }

    /// Go's number syntax: sign, 0x/0o/0b prefixes, `_` separators, fraction, exponent.
    fn number(&mut self) -> Result<Tok, String> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.bump();
        }
        let rest = self.rest();
        let (digits, exponent): (fn(char) -> bool, &str) =
            if rest.starts_with("0x") || rest.starts_with("0X") {
                self.pos += 2;
                (|c| c.is_ascii_hexdigit() || c == '_', "pP")
            } else if rest.starts_with("0o") || rest.starts_with("0O") {
                self.pos += 2;
                (|c| matches!(c, '0'..='7' | '_'), "")
            } else if rest.starts_with("0b") || rest.starts_with("0B") {
                self.pos += 2;
                (|c| matches!(c, '0' | '1' | '_'), "")
            } else {
                (|c| c.is_ascii_digit() || c == '_', "eE")
            };
        self.accept_run(digits);
        if self.peek() == Some('.') {
            self.bump();
            self.accept_run(digits);
        }
        if self.peek().is_some_and(|c| exponent.contains(c)) {
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            self.accept_run(|c| c.is_ascii_digit() || c == '_');
        }
        if self.peek() == Some('i') {
            self.bump();
        }
        let has_digit = self
            .src
            .get(start..self.pos)
            .unwrap_or("")
            .bytes()
            .any(|b| b.is_ascii_digit());
        if self.peek().is_some_and(is_alnum) || !has_digit {
            self.bump();
            let text = self.src.get(start..self.pos).unwrap_or("");
            return Err(format!("bad number syntax: {text:?}"));
        }
        Ok(Tok::Number(
            self.src.get(start..self.pos).unwrap_or("").to_string(),
        ))
    }

    /// Finds the closing `quote`, skipping escaped characters; the body stays escaped.
    fn scan_quoted(&mut self, quote: char, what: &str) -> Result<String, String> {
        let open = self.pos;
        self.bump();
        loop {
            match self.bump() {
                Some('\\') => match self.bump() {
                    None | Some('\n') => break,
                    Some(_) => {}
                },
                Some(c) if c == quote => {
                    let body = self.src.get(open + 1..self.pos - 1).unwrap_or("");
                    return unescape(body, quote);
                }
                None | Some('\n') => break,
                Some(_) => {}
            }
        }
        Err(format!("unterminated {what}"))
    }

    fn quoted(&mut self) -> Result<Tok, String> {
        self.scan_quoted('"', "quoted string").map(Tok::Str)
    }

    fn raw(&mut self) -> Result<Tok, String> {
        let open = self.pos;
        self.bump();
        let Some(len) = self.rest().find('`') else {
            return Err("unterminated raw quoted string".into());
        };
        self.pos += len + 1;
        Ok(Tok::Str(
            self.src
                .get(open + 1..self.pos - 1)
                .unwrap_or("")
                .to_string(),
        ))
    }

    fn char_const(&mut self) -> Result<Tok, String> {
        let open = self.pos;
        let body = self.scan_quoted('\'', "character constant")?;
        let mut chars = body.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => Ok(Tok::CharConst(i64::from(u32::from(c)))),
            _ => {
                let text = self.src.get(open..self.pos).unwrap_or("");
                Err(format!("malformed character constant: {text}"))
            }
        }
    }
}

/// `{{- ` trims: the dash must be followed by whitespace, else `{{-3}}` is the number -3.
fn has_left_trim(after_delim: &str) -> bool {
    let mut chars = after_delim.chars();
    chars.next() == Some('-') && chars.next().is_some_and(is_space)
}

fn describe_char(c: char) -> String {
    format!("U+{:04X} {c:?}", u32::from(c))
}

/// Decodes Go's escapes in a quoted string or character constant.
fn unescape(body: &str, quote: char) -> Result<String, String> {
    // Bytes, not chars: `\xff` is a raw byte in Go; invalid UTF-8 is replaced at the end.
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = chars.next().unwrap_or(' ');
        let simple = match e {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (len, radix) = match e {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (2, 8),
            _ => return Err(format!("invalid escape \\{e} in quoted string")),
        };
        let mut digits: String = if radix == 8 {
            e.to_string()
        } else {
            String::new()
        };
        for _ in 0..len {
            digits.push(chars.next().unwrap_or(' '));
        }
        let bad = || format!("invalid escape \\{e} in quoted string");
        if !digits.chars().all(|c| c.is_digit(radix)) {
            return Err(bad());
        }
        let n = u32::from_str_radix(&digits, radix).map_err(|_| bad())?;
        if matches!(e, 'u' | 'U') {
            let c = char::from_u32(n).ok_or_else(bad)?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        } else {
            out.push(u8::try_from(n).map_err(|_| bad())?);
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}
