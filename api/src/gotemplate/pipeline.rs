//! Pipelines inside actions: declarations, commands and operands, with Go's parse-time checks
//! on function names, variables and constant stages.

use serde_json::Value;

use super::ast::{Arg, ArgKind, Cmd, Pipe, Span};
use super::lex::{Tok, Token};
use super::parse::{End, Parser, Res};

impl Parser<'_> {
    pub(super) fn pipeline(&mut self, context: &str, end: End) -> Res<Pipe> {
        let start = self.peek()?.start;
        self.enter(start)?;
        let (decl, assign) = self.declarations(context)?;
        let mut cmds = Vec::new();
        let mut after_pipe = None;
        loop {
            let t = self.peek()?.clone();
            match (&t.tok, end) {
                (Tok::Right, End::Delim) | (Tok::RParen, End::Paren) => {
                    self.next()?;
                    break;
                }
                (Tok::Right, End::Paren) => {
                    return Err(self.err(t.start, "unclosed left paren: missing \")\""));
                }
                (Tok::RParen, End::Delim) => {
                    return Err(self.err(t.start, "unexpected right paren: no \"(\" to close"));
                }
                (
                    Tok::Bool(_)
                    | Tok::Number(_)
                    | Tok::CharConst(_)
                    | Tok::Nil
                    | Tok::Dot
                    | Tok::Field(_)
                    | Tok::Variable(_)
                    | Tok::Ident(_)
                    | Tok::LParen
                    | Tok::Str(_),
                    _,
                ) => {
                    let (cmd, piped) = self.command()?;
                    cmds.push(cmd);
                    after_pipe = piped;
                }
                _ => return Err(self.unexpected(&t, context)),
            }
        }
        if let Some(pos) = after_pipe {
            return Err(self.err(pos, "missing command after \"|\""));
        }
        if cmds.is_empty() {
            return Err(self.err(start, format!("missing value for {context}")));
        }
        // Only the first stage may be a constant: later ones receive the piped value.
        for (i, cmd) in cmds.iter().enumerate().skip(1) {
            if let Some(ArgKind::Lit(_) | ArgKind::Nil | ArgKind::Dot) =
                cmd.args.first().map(|a| &a.kind)
            {
                return Err(self.err(
                    cmd.span.start,
                    format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        self.depth -= 1;
        let end = cmds.last().map_or(start, |c| c.span.end);
        Ok(Pipe {
            span: Span { start, end },
            decl,
            assign,
            cmds,
        })
    }

    /// `$x :=`, `$x =`, and in `range` also `$i, $e :=`.
    fn declarations(&mut self, context: &str) -> Res<(Vec<String>, bool)> {
        let Tok::Variable(first) = self.peek()?.tok.clone() else {
            return Ok((Vec::new(), false));
        };
        let first_pos = self.peek()?.start;
        let mut decl = vec![(first, first_pos)];
        let op = match self.tok_at(self.i + 1).tok {
            Tok::Declare | Tok::Assign => {
                self.next()?;
                self.next()?
            }
            Tok::Other(',') => {
                self.next()?;
                let comma = self.next()?;
                if context != "range" {
                    return Err(
                        self.err(comma.start, format!("too many declarations in {context}"))
                    );
                }
                let t = self.next()?;
                let Tok::Variable(second) = t.tok else {
                    return Err(self.err(t.start, "range can only initialize variables"));
                };
                decl.push((second, t.start));
                let op = self.next()?;
                if !matches!(op.tok, Tok::Declare | Tok::Assign) {
                    return Err(self.unexpected(&op, "range declaration (expected := or =)"));
                }
                op
            }
            _ => return Ok((Vec::new(), false)),
        };
        let assign = op.tok == Tok::Assign;
        if assign {
            for (name, pos) in &decl {
                if !self.vars.contains(name) {
                    return Err(self.err(*pos, format!("undefined variable {name:?}")));
                }
            }
        }
        Ok((decl.into_iter().map(|(n, _)| n).collect(), assign))
    }

    /// One pipeline stage, and where the `|` that ended it is, if one did.
    fn command(&mut self) -> Res<(Cmd, Option<usize>)> {
        let start = self.peek()?.start;
        let mut args = Vec::new();
        loop {
            match self.operand()? {
                Some(a) => args.push(a),
                None => {
                    let t = self.peek()?.clone();
                    return Err(self.unexpected(&t, "operand"));
                }
            }
            let t = self.peek()?.clone();
            let piped = match t.tok {
                Tok::Right | Tok::RParen => None,
                Tok::Pipe => {
                    self.next()?;
                    Some(t.start)
                }
                _ if t.spaced => continue,
                _ => return Err(self.unexpected(&t, "operand")),
            };
            let end = args.last().map_or(start, |a: &Arg| a.span.end);
            return Ok((
                Cmd {
                    span: Span { start, end },
                    args,
                },
                piped,
            ));
        }
    }

    /// A term followed by any `.Field`s written directly after it.
    fn operand(&mut self) -> Res<Option<Arg>> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        let mut fields = Vec::new();
        let mut first_field = None;
        while let Token {
            tok: Tok::Field(f),
            spaced: false,
            start,
            ..
        } = self.peek()?
        {
            first_field.get_or_insert(*start);
            fields.push(f.clone());
            self.next()?;
        }
        let Some(field_pos) = first_field else {
            return Ok(Some(term));
        };
        let span = Span {
            start: term.span.start,
            end: self.last_end,
        };
        let kind = match term.kind {
            ArgKind::Field(mut names) => {
                names.extend(fields);
                ArgKind::Field(names)
            }
            ArgKind::Variable(name, mut names) => {
                names.extend(fields);
                ArgKind::Variable(name, names)
            }
            ArgKind::Lit(_) | ArgKind::Nil | ArgKind::Dot => {
                let text = self.src.get(term.span.start..term.span.end).unwrap_or("");
                return Err(self.err(field_pos, format!("unexpected . after term {text:?}")));
            }
            kind => ArgKind::Chain(
                Box::new(Arg {
                    span: term.span,
                    kind,
                }),
                fields,
            ),
        };
        Ok(Some(Arg { span, kind }))
    }

    fn term(&mut self) -> Res<Option<Arg>> {
        let t = self.peek()?.clone();
        let kind = match t.tok {
            Tok::Ident(name) => {
                if !self.funcs.contains(&name) {
                    return Err(self.err(t.start, format!("function {name:?} not defined")));
                }
                ArgKind::Ident(name)
            }
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.err(t.start, format!("undefined variable {name:?}")));
                }
                ArgKind::Variable(name, Vec::new())
            }
            Tok::Dot => ArgKind::Dot,
            Tok::Nil => ArgKind::Nil,
            Tok::Field(f) => ArgKind::Field(vec![f]),
            Tok::Bool(b) => ArgKind::Lit(Value::Bool(b)),
            Tok::Str(s) => ArgKind::Lit(Value::String(s)),
            Tok::CharConst(c) => ArgKind::Lit(Value::from(c)),
            Tok::Number(text) => {
                ArgKind::Lit(parse_number(&text).map_err(|m| self.err(t.start, m))?)
            }
            Tok::LParen => {
                self.next()?;
                let pipe = self.pipeline("parenthesized pipeline", End::Paren)?;
                let span = Span {
                    start: t.start,
                    end: self.last_end,
                };
                return Ok(Some(Arg {
                    span,
                    kind: ArgKind::Pipe(Box::new(pipe)),
                }));
            }
            _ => return Ok(None),
        };
        self.next()?;
        Ok(Some(Arg {
            span: Span {
                start: t.start,
                end: t.end,
            },
            kind,
        }))
    }
}

/// A number constant's value: integers (with Go's base prefixes and `_`) stay integers, anything
/// with a fraction or exponent is a float, as Go's untyped constants print.
fn parse_number(text: &str) -> Result<Value, String> {
    let bad = || format!("illegal number syntax: {text:?}");
    if text.ends_with('i') {
        return Err(format!("complex number {text:?} is not supported"));
    }
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return Err(bad());
    }
    let clean = body.replace('_', "").to_ascii_lowercase();
    let int = if let Some(h) = clean.strip_prefix("0x") {
        if h.contains(['.', 'p']) {
            return Err(format!(
                "hexadecimal floating-point {text:?} is not supported"
            ));
        }
        Some((h, 16))
    } else if let Some(o) = clean.strip_prefix("0o") {
        Some((o, 8))
    } else if let Some(b) = clean.strip_prefix("0b") {
        Some((b, 2))
    } else if clean.contains(['.', 'e']) {
        None
    } else if clean.len() > 1
        && clean.starts_with('0')
        && clean.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        Some((&clean[1..], 8))
    } else {
        Some((clean.as_str(), 10))
    };
    let Some((digits, radix)) = int else {
        let f: f64 = clean.parse().map_err(|_| bad())?;
        let f = if neg { -f } else { f };
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("number {text:?} is out of range"));
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(bad());
    }
    let overflow = || format!("number {text:?} overflows a 64-bit integer");
    let mag = u64::from_str_radix(digits, radix).map_err(|_| overflow())?;
    if !neg {
        return Ok(Value::from(mag));
    }
    let n = 0i128 - i128::from(mag);
    i64::try_from(n).map(Value::from).map_err(|_| overflow())
}
