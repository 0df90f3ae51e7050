//! A small Go `text/template` engine: the subset the catalog's manifests and our
//! generated Helm chart use (bundle spec §4.4, §9.2).
//!
//! Supported: text with `{{ }}` actions and `{{-`/`-}}` trimming, comments, pipelines
//! (`a | f b`), parenthesised sub-pipelines, variables (`$x := …`, `$x = …`, `$`),
//! field chains on the data, variables and parentheses, string/number/bool/nil
//! literals, `if`/`else if`/`else`, `with`, `range` (optionally `$k, $v :=`), `end`.
//! Functions: `and`, `or` (short-circuit), `not`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`,
//! `len`, `index`, `print`, plus the Helm ones `default`, `empty`, `required`,
//! `toString`, `toYaml`, `fromYaml`, `nindent`, `indent`, `quote`, `dict`,
//! `mergeOverwrite`, and the method `.Files.Get` when files are supplied.
//!
//! Departures from Go, on purpose: printing a missing map key is an error naming the
//! key (Go prints `<no value>`; our stance §7.10); `default D v` keeps `false`/`0`
//! (the Go server's function, unlike Helm's).

use super::request::go_quote;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::{self, Write};

/// A template problem: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// Template name (its catalog path).
    pub name: String,
    /// 1-based line of the action at fault.
    pub line: usize,
    /// What went wrong.
    pub message: String,
    /// Whether the input data (not the template text) is to blame.
    pub data_error: bool,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template: {}:{}: {}", self.name, self.line, self.message)
    }
}

impl std::error::Error for TemplateError {}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Str(String),
    Num(Value),
    Bool(bool),
    Nil,
    Dot,
    /// `.a.b` (possibly following another term without a space).
    Field(Vec<String>, bool),
    /// `$name` with a trailing field chain.
    Var(String, Vec<String>),
    Ident(String),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

#[derive(Clone, Debug, PartialEq)]
enum Term {
    Lit(Value),
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Sub(Box<Pipeline>, Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
struct Cmd {
    terms: Vec<Term>,
}

#[derive(Clone, Debug, PartialEq, Default)]
struct Pipeline {
    vars: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Text(String),
    Print(Pipeline, usize),
    /// `if`/`with`/`range` with their line, then-branch and else-branch.
    Block(BlockKind, Pipeline, usize, Vec<Node>, Vec<Node>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockKind {
    If,
    With,
    Range,
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    name: String,
    nodes: Vec<Node>,
}

/// Lexed actions and text, before block structure is built.
enum Piece {
    Text(String),
    Action(Vec<Tok>, usize),
}

fn err(name: &str, line: usize, message: impl Into<String>) -> TemplateError {
    TemplateError { name: name.to_string(), line, message: message.into(), data_error: false }
}

fn data_err(name: &str, line: usize, message: impl Into<String>) -> TemplateError {
    TemplateError { name: name.to_string(), line, message: message.into(), data_error: true }
}

impl Template {
    /// Parses `text`; `name` appears in error messages.
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        let pieces = split(name, text)?;
        let mut iter = pieces.into_iter().peekable();
        let (nodes, end) = build(name, &mut iter)?;
        if let Some((word, line)) = end {
            return Err(err(name, line, format!("unexpected {{{{{word}}}}}")));
        }
        Ok(Template { name: name.to_string(), nodes })
    }

    /// Whether the template contains no actions at all (its output is its text).
    pub fn is_static(&self) -> bool {
        self.nodes.iter().all(|n| matches!(n, Node::Text(_)))
    }

    /// Renders with `data` as dot; `files` backs `.Files.Get`.
    pub fn render(&self, data: &Value, files: Option<&BTreeMap<String, String>>) -> Result<String, TemplateError> {
        let mut ctx =
            Ctx { name: &self.name, root: data, files, vars: vec![("$".into(), Val::Ref(data))], out: String::new() };
        ctx.run(&self.nodes, &Val::Ref(data))?;
        Ok(ctx.out)
    }
}

// ---------------------------------------------------------------------------
// Lexing

fn split(name: &str, text: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = text;
    // Line of the next action: newlines counted so far, up to `counted`.
    let (mut line, mut counted) = (1usize, 0usize);
    let mut offset = 0usize;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut before = &rest[..start];
        if trim_next {
            before = before.trim_start();
        }
        let after_open = &rest[start + 2..];
        let trim_left = after_open.starts_with("- ") || after_open.starts_with("-\t") || after_open.starts_with("-\n");
        if trim_left {
            before = before.trim_end();
        }
        if !before.is_empty() {
            pieces.push(Piece::Text(before.to_string()));
        }
        line += text.as_bytes()[counted..offset + start].iter().filter(|b| **b == b'\n').count();
        counted = offset + start;
        let body_start = if trim_left { 1 } else { 0 };
        let (toks, consumed, trim_right) = lex_action(name, line, &after_open[body_start..])?;
        if let Some(toks) = toks {
            pieces.push(Piece::Action(toks, line));
        }
        let advance = start + 2 + body_start + consumed;
        offset += advance;
        rest = &rest[advance..];
        trim_next = trim_right;
    }
    let tail = if trim_next { rest.trim_start() } else { rest };
    if !tail.is_empty() {
        pieces.push(Piece::Text(tail.to_string()));
    }
    Ok(pieces)
}

/// Lexes one action body (after `{{` and an optional `- `); returns the tokens (None
/// for a comment), the bytes consumed including `}}`, and whether it ended with `-}}`.
fn lex_action(name: &str, line: usize, s: &str) -> Result<(Option<Vec<Tok>>, usize, bool), TemplateError> {
    let trimmed = s.trim_start();
    if trimmed.starts_with("/*") {
        let end = trimmed.find("*/").ok_or_else(|| err(name, line, "unclosed comment"))?;
        let after = &trimmed[end + 2..];
        let lead = s.len() - trimmed.len() + end + 2;
        let after_trim = after.trim_start();
        let ws = after.len() - after_trim.len();
        if let Some(r) = after_trim.strip_prefix("-}}") {
            let _ = r;
            return Ok((None, lead + ws + 3, true));
        }
        if after.starts_with("}}") {
            return Ok((None, lead + 2, false));
        }
        return Err(err(name, line, "comment ends before closing delimiter"));
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut toks = Vec::new();
    let mut spaced = true;
    loop {
        let Some(&c) = b.get(i) else {
            return Err(err(name, line, "unclosed action"));
        };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                if s[i..].trim_start().starts_with("-}}") && (c == b' ' || c == b'\t' || c == b'\n' || c == b'\r') {
                    let ws = s[i..].len() - s[i..].trim_start().len();
                    return Ok((Some(toks), i + ws + 3, true));
                }
                i += 1;
                spaced = true;
                continue;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Ok((Some(toks), i + 2, false)),
            b'"' => {
                let (text, len) = lex_string(&s[i..]).ok_or_else(|| err(name, line, "unterminated quoted string"))?;
                toks.push(Tok::Str(text));
                i += len;
            }
            b'`' => {
                let end = s[i + 1..].find('`').ok_or_else(|| err(name, line, "unterminated raw quoted string"))?;
                toks.push(Tok::Str(s[i + 1..i + 1 + end].to_string()));
                i += end + 2;
            }
            b'(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                toks.push(Tok::RParen);
                i += 1;
            }
            b'|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            b',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            b'=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            b'$' => {
                let len = ident_len(&s[i + 1..]);
                let var = format!("${}", &s[i + 1..i + 1 + len]);
                i += 1 + len;
                let (chain, clen) = lex_chain(&s[i..]);
                i += clen;
                toks.push(Tok::Var(var, chain));
            }
            b'.' => {
                let (chain, clen) = lex_chain(&s[i..]);
                if chain.is_empty() {
                    toks.push(Tok::Dot);
                    i += 1;
                } else {
                    toks.push(Tok::Field(chain, !spaced));
                    i += clen;
                }
            }
            b'-' | b'+' | b'0'..=b'9' => {
                let len = s[i..]
                    .char_indices()
                    .skip(1)
                    .find(|(_, ch)| !(ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '+' | '-')))
                    .map_or(s.len() - i, |(j, _)| j);
                let lit = &s[i..i + len];
                let num = lit
                    .parse::<i64>()
                    .map(Value::from)
                    .or_else(|_| lit.parse::<f64>().map(Value::from))
                    .map_err(|_| err(name, line, format!("bad number syntax: {lit:?}")))?;
                toks.push(Tok::Num(num));
                i += len;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let len = ident_len(&s[i..]);
                let word = &s[i..i + len];
                toks.push(match word {
                    "true" => Tok::Bool(true),
                    "false" => Tok::Bool(false),
                    "nil" => Tok::Nil,
                    _ => Tok::Ident(word.to_string()),
                });
                i += len;
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(err(name, line, format!("unexpected {ch:?} in command")));
            }
        }
        spaced = false;
    }
}

fn ident_len(s: &str) -> usize {
    s.char_indices().find(|(_, c)| !(c.is_alphanumeric() || *c == '_')).map_or(s.len(), |(i, _)| i)
}

/// `.a.b.c` → (["a","b","c"], bytes).
fn lex_chain(s: &str) -> (Vec<String>, usize) {
    let mut chain = Vec::new();
    let mut i = 0;
    while s[i..].starts_with('.') {
        let len = ident_len(&s[i + 1..]);
        if len == 0 {
            break;
        }
        chain.push(s[i + 1..i + 1 + len].to_string());
        i += 1 + len;
    }
    (chain, i)
}

fn lex_string(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Parsing

type Pieces = std::iter::Peekable<std::vec::IntoIter<Piece>>;

/// Nodes built so far and the keyword action (with its line) that ended them.
type Built = (Vec<Node>, Option<(String, usize)>);

/// Builds nodes until `end`/`else`; returns them and the terminating keyword action
/// (`"end"`, `"else"`, or `"else if"` with the rest of its tokens pushed back).
fn build(name: &str, iter: &mut Pieces) -> Result<Built, TemplateError> {
    let mut nodes = Vec::new();
    while let Some(piece) = iter.next() {
        match piece {
            Piece::Text(t) => nodes.push(Node::Text(t)),
            Piece::Action(toks, line) => match toks.first() {
                Some(Tok::Ident(w)) if w == "end" => {
                    return Ok((nodes, Some(("end".into(), line))));
                }
                Some(Tok::Ident(w)) if w == "else" => {
                    if toks.len() > 1 {
                        // `else if …` / `else with …`: hand the rest back as a new block opener.
                        let rest = toks[1..].to_vec();
                        return Ok((nodes, Some((format!("else:{}", encode_rest(&rest, line, iter)), line))));
                    }
                    return Ok((nodes, Some(("else".into(), line))));
                }
                Some(Tok::Ident(w)) if matches!(w.as_str(), "if" | "with" | "range") => {
                    let kind = match w.as_str() {
                        "if" => BlockKind::If,
                        "with" => BlockKind::With,
                        _ => BlockKind::Range,
                    };
                    nodes.push(parse_block(name, kind, &toks[1..], line, iter)?);
                }
                Some(Tok::Ident(w)) if matches!(w.as_str(), "define" | "template" | "block" | "break" | "continue") => {
                    return Err(err(name, line, format!("{{{{{w}}}}} is not supported")));
                }
                _ => nodes.push(Node::Print(parse_pipeline(name, line, &toks)?, line)),
            },
        }
    }
    Ok((nodes, None))
}

/// `else if …` is handled by pushing the `if …` action back in front of the stream.
fn encode_rest(rest: &[Tok], line: usize, iter: &mut Pieces) -> String {
    let word = match rest.first() {
        Some(Tok::Ident(w)) => w.clone(),
        _ => String::new(),
    };
    let mut pending: Vec<Piece> = vec![Piece::Action(rest.to_vec(), line)];
    pending.extend(iter.by_ref());
    *iter = pending.into_iter().peekable();
    word
}

fn parse_block(
    name: &str,
    kind: BlockKind,
    toks: &[Tok],
    line: usize,
    iter: &mut Pieces,
) -> Result<Node, TemplateError> {
    let pipe = parse_pipeline(name, line, toks)?;
    let (then, end) = build(name, iter)?;
    let else_nodes = match end {
        Some((w, _)) if w == "end" => Vec::new(),
        Some((w, l)) if w == "else" => {
            let (nodes, end) = build(name, iter)?;
            match end {
                Some((w, _)) if w == "end" => nodes,
                _ => return Err(err(name, l, "expected {{end}} after {{else}}")),
            }
        }
        Some((w, l)) if w.starts_with("else:") => {
            // The chained block consumes the shared {{end}}.
            let kind = match &w[5..] {
                "if" => BlockKind::If,
                "with" => BlockKind::With,
                other => return Err(err(name, l, format!("unexpected else {other}"))),
            };
            let Some(Piece::Action(toks, l2)) = iter.next() else {
                return Err(err(name, l, "bad else"));
            };
            vec![parse_block(name, kind, &toks[1..], l2, iter)?]
        }
        _ => return Err(err(name, line, "unexpected EOF: missing {{end}}")),
    };
    Ok(Node::Block(kind, pipe, line, then, else_nodes))
}

fn parse_pipeline(name: &str, line: usize, toks: &[Tok]) -> Result<Pipeline, TemplateError> {
    let mut pipe = Pipeline::default();
    let mut rest = toks;
    // Declarations: `$x :=`, `$x =`, `$k, $v :=`.
    let decl_end = toks.iter().position(|t| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(pos) = decl_end {
        let vars: Vec<&Tok> = toks[..pos].iter().filter(|t| !matches!(t, Tok::Comma)).collect();
        if !vars.is_empty() && vars.iter().all(|t| matches!(t, Tok::Var(_, c) if c.is_empty())) {
            pipe.vars = vars.iter().map(|t| if let Tok::Var(v, _) = t { v.clone() } else { unreachable!() }).collect();
            pipe.assign = matches!(toks[pos], Tok::Assign);
            rest = &toks[pos + 1..];
        }
    }
    let mut pos = 0;
    pipe.cmds = parse_cmds(name, line, rest, &mut pos, false)?;
    if pos != rest.len() {
        return Err(err(name, line, "unexpected token in pipeline"));
    }
    if pipe.cmds.is_empty() {
        return Err(err(name, line, "missing value for command"));
    }
    Ok(pipe)
}

fn parse_cmds(name: &str, line: usize, toks: &[Tok], pos: &mut usize, nested: bool) -> Result<Vec<Cmd>, TemplateError> {
    let mut cmds = Vec::new();
    let mut cmd = Cmd { terms: Vec::new() };
    while *pos < toks.len() {
        match &toks[*pos] {
            Tok::RParen if nested => break,
            Tok::Pipe => {
                if cmd.terms.is_empty() {
                    return Err(err(name, line, "missing command before |"));
                }
                cmds.push(std::mem::replace(&mut cmd, Cmd { terms: Vec::new() }));
                *pos += 1;
            }
            Tok::LParen => {
                *pos += 1;
                let inner = parse_cmds(name, line, toks, pos, true)?;
                if toks.get(*pos) != Some(&Tok::RParen) {
                    return Err(err(name, line, "unclosed left paren"));
                }
                *pos += 1;
                let chain = match toks.get(*pos) {
                    Some(Tok::Field(chain, true)) => {
                        *pos += 1;
                        chain.clone()
                    }
                    _ => Vec::new(),
                };
                cmd.terms.push(Term::Sub(Box::new(Pipeline { vars: Vec::new(), assign: false, cmds: inner }), chain));
            }
            tok => {
                cmd.terms.push(match tok {
                    Tok::Str(s) => Term::Lit(Value::String(s.clone())),
                    Tok::Num(n) => Term::Lit(n.clone()),
                    Tok::Bool(b) => Term::Lit(Value::Bool(*b)),
                    Tok::Nil => Term::Lit(Value::Null),
                    Tok::Dot => Term::Dot,
                    Tok::Field(chain, _) => Term::Field(chain.clone()),
                    Tok::Var(v, chain) => Term::Var(v.clone(), chain.clone()),
                    Tok::Ident(f) => {
                        if !is_function(f) {
                            return Err(err(name, line, format!("function {f:?} not defined")));
                        }
                        Term::Func(f.clone())
                    }
                    _ => return Err(err(name, line, "unexpected token")),
                });
                *pos += 1;
            }
        }
    }
    if !cmd.terms.is_empty() {
        cmds.push(cmd);
    } else if !cmds.is_empty() {
        return Err(err(name, line, "missing command after |"));
    }
    Ok(cmds)
}

const FUNCTIONS: &[&str] = &[
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "print",
    "default",
    "empty",
    "required",
    "toString",
    "toYaml",
    "fromYaml",
    "nindent",
    "indent",
    "quote",
    "dict",
    "mergeOverwrite",
];

fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

// ---------------------------------------------------------------------------
// Evaluation

/// A value during evaluation: borrowed from the data, computed, a missing map key
/// (remembering the key), or the `.Files` object.
#[derive(Clone, Debug)]
enum Val<'a> {
    Ref(&'a Value),
    Own(Value),
    Missing(String),
    Files,
}

impl<'a> Val<'a> {
    fn value(&self) -> Option<&Value> {
        match self {
            Val::Ref(v) => Some(v),
            Val::Own(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a function argument: a missing key is nil.
    fn to_value(&self) -> Value {
        self.value().cloned().unwrap_or(Value::Null)
    }

    fn truth(&self) -> bool {
        match self {
            Val::Missing(_) => false,
            Val::Files => true,
            v => match v.value() {
                Some(Value::Null) | None => false,
                Some(Value::Bool(b)) => *b,
                Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
                Some(Value::String(s)) => !s.is_empty(),
                Some(Value::Array(a)) => !a.is_empty(),
                Some(Value::Object(o)) => !o.is_empty(),
            },
        }
    }
}

struct Ctx<'a, 'd> {
    name: &'a str,
    root: &'d Value,
    files: Option<&'a BTreeMap<String, String>>,
    vars: Vec<(String, Val<'d>)>,
    out: String,
}

/// Go's `%v` of a JSON-shaped value.
pub fn go_print(v: &Value) -> String {
    let mut s = String::new();
    print_into(&mut s, v);
    s
}

fn print_into(s: &mut String, v: &Value) {
    match v {
        Value::Null => s.push_str("<nil>"),
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => {
                let _ = write!(s, "{i}");
            }
            (None, Some(u)) => {
                let _ = write!(s, "{u}");
            }
            _ => s.push_str(&super::yaml::go_float(n.as_f64().unwrap_or(f64::NAN))),
        },
        Value::String(t) => match super::yaml::SPECIAL_FLOATS.iter().find(|(m, _)| m == t) {
            Some((_, f)) => s.push_str(&super::yaml::go_float(*f)),
            None => s.push_str(t),
        },
        Value::Array(items) => {
            s.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                print_into(s, item);
            }
            s.push(']');
        }
        Value::Object(map) => {
            s.push_str("map[");
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(k);
                s.push(':');
                print_into(s, item);
            }
            s.push(']');
        }
    }
}

/// Pads every non-empty line of `s` with `n` spaces.
fn indent_lines(n: usize, s: &str) -> String {
    let pad = " ".repeat(n);
    let mut out = String::with_capacity(s.len() + 16);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

/// Deep merge with sprig `mergeOverwrite` semantics: maps merge, and a source value
/// replaces the destination unless it is empty (nil, false, 0, "", empty collection).
fn merge_overwrite(dst: &mut Map<String, Value>, src: &Map<String, Value>) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Value::Object(d)), Value::Object(s)) => merge_overwrite(d, s),
            (Some(_), v) if !Val::Ref(v).truth() => {}
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

impl<'a, 'd> Ctx<'a, 'd> {
    fn run(&mut self, nodes: &[Node], dot: &Val<'d>) -> Result<(), TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Print(pipe, line) => {
                    let v = self.pipeline(pipe, dot, *line)?;
                    if pipe.vars.is_empty() {
                        match &v {
                            Val::Missing(key) => {
                                return Err(data_err(self.name, *line, format!("missing value for key {key:?}")));
                            }
                            Val::Files => return Err(err(self.name, *line, "cannot print .Files")),
                            v => print_into(&mut self.out, &v.to_value()),
                        }
                    }
                }
                Node::Block(kind, pipe, line, then, otherwise) => {
                    let mark = self.vars.len();
                    let v = self.pipeline(pipe, dot, *line)?;
                    match kind {
                        BlockKind::If => {
                            if v.truth() {
                                self.run(then, dot)?;
                            } else {
                                self.run(otherwise, dot)?;
                            }
                        }
                        BlockKind::With => {
                            if v.truth() {
                                self.run(then, &v)?;
                            } else {
                                self.run(otherwise, dot)?;
                            }
                        }
                        BlockKind::Range => self.range(pipe, &v, then, otherwise, dot, *line)?,
                    }
                    self.vars.truncate(mark);
                }
            }
        }
        Ok(())
    }

    fn range(
        &mut self,
        pipe: &Pipeline,
        v: &Val<'d>,
        body: &[Node],
        otherwise: &[Node],
        dot: &Val<'d>,
        line: usize,
    ) -> Result<(), TemplateError> {
        let items: Vec<(Value, Val<'d>)> = match v {
            Val::Ref(Value::Array(a)) => a.iter().enumerate().map(|(i, x)| (Value::from(i), Val::Ref(x))).collect(),
            Val::Ref(Value::Object(o)) => o.iter().map(|(k, x)| (Value::from(k.clone()), Val::Ref(x))).collect(),
            Val::Own(Value::Array(a)) => {
                a.iter().enumerate().map(|(i, x)| (Value::from(i), Val::Own(x.clone()))).collect()
            }
            Val::Own(Value::Object(o)) => {
                o.iter().map(|(k, x)| (Value::from(k.clone()), Val::Own(x.clone()))).collect()
            }
            v if !v.truth() => Vec::new(),
            _ => return Err(err(self.name, line, "range can't iterate over this value")),
        };
        if items.is_empty() {
            return self.run(otherwise, dot);
        }
        // The pipeline declared its variables already; rebind them per element.
        let base = self.vars.len() - pipe.vars.len().min(self.vars.len());
        for (key, item) in items {
            self.vars.truncate(base);
            match pipe.vars.as_slice() {
                [v] => self.vars.push((v.clone(), item.clone())),
                [k, v] => {
                    self.vars.push((k.clone(), Val::Own(key)));
                    self.vars.push((v.clone(), item.clone()));
                }
                _ => {}
            }
            let mark = self.vars.len();
            self.run(body, &item)?;
            self.vars.truncate(mark);
        }
        Ok(())
    }

    fn pipeline(&mut self, pipe: &Pipeline, dot: &Val<'d>, line: usize) -> Result<Val<'d>, TemplateError> {
        let mut value: Option<Val<'d>> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(cmd, dot, value, line)?);
        }
        let value = value.unwrap_or(Val::Own(Value::Null));
        if pipe.assign {
            let name = &pipe.vars[0];
            let slot = self.vars.iter_mut().rev().find(|(n, _)| n == name);
            match slot {
                Some(slot) => slot.1 = value.clone(),
                None => return Err(err(self.name, line, format!("undefined variable: {name}"))),
            }
        } else {
            for var in &pipe.vars {
                self.vars.push((var.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn lookup_var(&self, name: &str, line: usize) -> Result<Val<'d>, TemplateError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| err(self.name, line, format!("undefined variable: {name}")))
    }

    fn field(&self, recv: Val<'d>, field: &str, line: usize) -> Result<Val<'d>, TemplateError> {
        match recv {
            Val::Missing(k) => Ok(Val::Missing(k)),
            Val::Files => Err(err(self.name, line, format!("can't evaluate field {field} of .Files"))),
            Val::Ref(Value::Object(map)) => Ok(map.get(field).map_or_else(|| self.root_extra(map, field), Val::Ref)),
            Val::Own(Value::Object(mut map)) => Ok(map.remove(field).map_or(Val::Missing(field.into()), Val::Own)),
            Val::Ref(Value::Null) | Val::Own(Value::Null) => {
                Err(data_err(self.name, line, format!("nil pointer evaluating interface {{}}.{field}")))
            }
            other => {
                let kind = match other.value() {
                    Some(Value::String(_)) => "string",
                    Some(Value::Number(_)) => "number",
                    Some(Value::Bool(_)) => "bool",
                    _ => "[]interface {}",
                };
                Err(data_err(self.name, line, format!("can't evaluate field {field} in type {kind}")))
            }
        }
    }

    /// `.Files` on the root object when files are supplied.
    fn root_extra(&self, map: &'d Map<String, Value>, field: &str) -> Val<'d> {
        if field == "Files" && self.files.is_some() && std::ptr::eq(map, self.root.as_object().unwrap_or(map)) {
            Val::Files
        } else {
            Val::Missing(field.into())
        }
    }

    fn chain(&self, mut v: Val<'d>, chain: &[String], line: usize) -> Result<Val<'d>, TemplateError> {
        for f in chain {
            v = self.field(v, f, line)?;
        }
        Ok(v)
    }

    fn term(&mut self, term: &Term, dot: &Val<'d>, line: usize) -> Result<Val<'d>, TemplateError> {
        match term {
            Term::Lit(v) => Ok(Val::Own(v.clone())),
            Term::Dot => Ok(dot.clone()),
            Term::Field(chain) => self.chain(dot.clone(), chain, line),
            Term::Var(name, chain) => {
                let v = self.lookup_var(name, line)?;
                self.chain(v, chain, line)
            }
            Term::Func(f) => self.call(f, &[], dot, None, line),
            Term::Sub(pipe, chain) => {
                let v = self.pipeline(pipe, dot, line)?;
                self.chain(v, chain, line)
            }
        }
    }

    fn command(
        &mut self,
        cmd: &Cmd,
        dot: &Val<'d>,
        piped: Option<Val<'d>>,
        line: usize,
    ) -> Result<Val<'d>, TemplateError> {
        match &cmd.terms[0] {
            Term::Func(f) => self.call(f, &cmd.terms[1..], dot, piped, line),
            Term::Field(chain)
                if chain.len() >= 2 && chain[chain.len() - 1] == "Get" && (cmd.terms.len() > 1 || piped.is_some()) =>
            {
                let recv = self.chain(dot.clone(), &chain[..chain.len() - 1], line)?;
                let mut args = Vec::new();
                for t in &cmd.terms[1..] {
                    args.push(self.term(t, dot, line)?.to_value());
                }
                if let Some(p) = piped {
                    args.push(p.to_value());
                }
                match (recv, args.as_slice()) {
                    (Val::Files, [Value::String(path)]) => {
                        let files = self.files.expect("Files only exists with files");
                        Ok(Val::Own(Value::String(files.get(path).cloned().unwrap_or_default())))
                    }
                    _ => Err(err(self.name, line, "only .Files.Get takes arguments")),
                }
            }
            first => {
                if cmd.terms.len() > 1 || piped.is_some() {
                    return Err(err(self.name, line, "can't give arguments to a non-function"));
                }
                self.term(first, dot, line)
            }
        }
    }

    fn call(
        &mut self,
        f: &str,
        terms: &[Term],
        dot: &Val<'d>,
        piped: Option<Val<'d>>,
        line: usize,
    ) -> Result<Val<'d>, TemplateError> {
        // `and`/`or` evaluate lazily and return the deciding argument.
        if f == "and" || f == "or" {
            let want = f == "or";
            let mut last = Val::Own(Value::Bool(!want));
            let n = terms.len() + usize::from(piped.is_some());
            if n == 0 {
                return Err(err(self.name, line, format!("wrong number of args for {f}: want at least 1 got 0")));
            }
            for t in terms {
                last = self.term(t, dot, line)?;
                if last.truth() == want {
                    return Ok(last);
                }
            }
            if let Some(p) = piped {
                last = p;
            }
            return Ok(last);
        }
        let mut args: Vec<Val<'d>> = Vec::with_capacity(terms.len() + 1);
        for t in terms {
            args.push(self.term(t, dot, line)?);
        }
        if let Some(p) = piped {
            args.push(p);
        }
        let arity = |n: usize| -> Result<(), TemplateError> {
            if args.len() == n {
                Ok(())
            } else {
                Err(err(self.name, line, format!("wrong number of args for {f}: want {n} got {}", args.len())))
            }
        };
        let own = |v: Value| Ok(Val::Own(v));
        match f {
            "not" => {
                arity(1)?;
                own(Value::Bool(!args[0].truth()))
            }
            "eq" | "ne" => {
                if args.len() < 2 {
                    return Err(err(self.name, line, format!("wrong number of args for {f}")));
                }
                let first = args[0].to_value();
                let mut equal = false;
                for other in &args[1..] {
                    let other = other.to_value();
                    match compare(&first, &other) {
                        Some(o) => equal |= o == std::cmp::Ordering::Equal,
                        None => {
                            return Err(data_err(
                                self.name,
                                line,
                                format!("error calling {f}: incompatible types for comparison"),
                            ));
                        }
                    }
                }
                own(Value::Bool(if f == "eq" { equal } else { !equal }))
            }
            "lt" | "le" | "gt" | "ge" => {
                arity(2)?;
                let o = compare(&args[0].to_value(), &args[1].to_value()).ok_or_else(|| {
                    data_err(self.name, line, format!("error calling {f}: incompatible types for comparison"))
                })?;
                own(Value::Bool(match f {
                    "lt" => o.is_lt(),
                    "le" => o.is_le(),
                    "gt" => o.is_gt(),
                    _ => o.is_ge(),
                }))
            }
            "len" => {
                arity(1)?;
                let n = match args[0].to_value() {
                    Value::String(s) => s.len(),
                    Value::Array(a) => a.len(),
                    Value::Object(o) => o.len(),
                    _ => return Err(data_err(self.name, line, "error calling len: invalid type")),
                };
                own(Value::from(n))
            }
            "index" => {
                if args.is_empty() {
                    return Err(err(self.name, line, "wrong number of args for index"));
                }
                let mut cur = args[0].clone();
                for key in &args[1..] {
                    cur =
                        match (&cur, key.to_value()) {
                            (Val::Missing(_), k) => Val::Missing(go_print(&k)),
                            (Val::Ref(Value::Object(m)), Value::String(k)) => {
                                m.get(&k).map_or(Val::Missing(k), Val::Ref)
                            }
                            (Val::Own(Value::Object(m)), Value::String(k)) => {
                                m.get(&k).cloned().map_or(Val::Missing(k), Val::Own)
                            }
                            (Val::Ref(Value::Array(a)), Value::Number(n)) => {
                                let i = n
                                    .as_u64()
                                    .ok_or_else(|| data_err(self.name, line, "error calling index: bad index"))?;
                                Val::Ref(a.get(i as usize).ok_or_else(|| {
                                    data_err(self.name, line, "error calling index: index out of range")
                                })?)
                            }
                            (Val::Own(Value::Array(a)), Value::Number(n)) => {
                                let i = n
                                    .as_u64()
                                    .ok_or_else(|| data_err(self.name, line, "error calling index: bad index"))?;
                                Val::Own(a.get(i as usize).cloned().ok_or_else(|| {
                                    data_err(self.name, line, "error calling index: index out of range")
                                })?)
                            }
                            (v, _) if v.value().is_some_and(Value::is_null) => Val::Missing("<nil>".into()),
                            _ => {
                                return Err(data_err(self.name, line, "error calling index: cannot index this value"));
                            }
                        };
                }
                Ok(cur)
            }
            "print" => {
                let mut s = String::new();
                for (i, a) in args.iter().enumerate() {
                    let v = a.to_value();
                    if i > 0 && !v.is_string() && !args[i - 1].to_value().is_string() {
                        s.push(' ');
                    }
                    print_into(&mut s, &v);
                }
                own(Value::String(s))
            }
            "default" => {
                arity(2)?;
                let v = &args[1];
                let empty = matches!(v, Val::Missing(_))
                    || matches!(v.value(), Some(Value::Null))
                    || v.value().and_then(Value::as_str) == Some("");
                Ok(if empty { args[0].clone() } else { v.clone() })
            }
            "empty" => {
                arity(1)?;
                own(Value::Bool(!args[0].truth()))
            }
            "required" => {
                arity(2)?;
                let v = &args[1];
                if !v.truth() && !matches!(v.value(), Some(Value::Bool(false)) | Some(Value::Number(_))) {
                    let msg = args[0].to_value();
                    return Err(data_err(self.name, line, format!("error calling required: {}", go_print(&msg))));
                }
                Ok(v.clone())
            }
            "toString" => {
                arity(1)?;
                own(Value::String(go_print(&args[0].to_value())))
            }
            "toYaml" => {
                arity(1)?;
                let text = super::yaml::value_to_string(&args[0].to_value());
                own(Value::String(text.strip_suffix('\n').unwrap_or(&text).to_string()))
            }
            "fromYaml" => {
                arity(1)?;
                let text = go_print(&args[0].to_value());
                let parsed = if text.trim().is_empty() {
                    Ok(Value::Object(Map::new()))
                } else {
                    crate::recipe::catalog::parse_yaml::<Value>(&text)
                };
                own(match parsed {
                    Ok(Value::Null) => Value::Object(Map::new()),
                    Ok(v) => v,
                    Err(e) => Value::Object([("Error".to_string(), Value::String(e))].into_iter().collect()),
                })
            }
            "nindent" | "indent" => {
                arity(2)?;
                let n = args[0]
                    .to_value()
                    .as_u64()
                    .ok_or_else(|| data_err(self.name, line, format!("error calling {f}: bad width")))?;
                let text = indent_lines(n as usize, &go_print(&args[1].to_value()));
                own(Value::String(if f == "nindent" { format!("\n{text}") } else { text }))
            }
            "quote" => {
                let parts: Vec<String> = args
                    .iter()
                    .filter(|a| a.value().is_some_and(|v| !v.is_null()))
                    .map(|a| go_quote(&go_print(&a.to_value())))
                    .collect();
                own(Value::String(parts.join(" ")))
            }
            "dict" => {
                let mut map = Map::new();
                for pair in args.chunks(2) {
                    let key = go_print(&pair[0].to_value());
                    map.insert(key, pair.get(1).map_or(Value::String(String::new()), Val::to_value));
                }
                own(Value::Object(map))
            }
            "mergeOverwrite" => {
                let mut dst = match args.first().map(Val::to_value) {
                    Some(Value::Object(m)) => m,
                    _ => {
                        return Err(data_err(
                            self.name,
                            line,
                            "error calling mergeOverwrite: destination is not a map",
                        ));
                    }
                };
                for src in &args[1..] {
                    if let Value::Object(m) = src.to_value() {
                        merge_overwrite(&mut dst, &m);
                    }
                }
                own(Value::Object(dst))
            }
            _ => Err(err(self.name, line, format!("function {f:?} not defined"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, data: Value) -> Result<String, TemplateError> {
        Template::parse("t.yaml", t)?.render(&data, None)
    }

    #[test]
    fn text_fields_and_trimming() {
        let data = json!({"Release": {"Namespace": "ns"}, "Values": {"c": {"name": "x"}}});
        assert_eq!(render("a: {{ .Release.Namespace }}\n", data.clone()).unwrap(), "a: ns\n");
        assert_eq!(render("a:\n  {{- .Release.Namespace }}\n", data.clone()).unwrap(), "a:ns\n");
        assert_eq!(render("x {{ .Release.Namespace -}}\n  y", data.clone()).unwrap(), "x nsy");
        assert_eq!(render("{{/* note */}}z", data.clone()).unwrap(), "z");
        assert_eq!(render("{{- /* note */ -}}\n z", data.clone()).unwrap(), "z");
        assert_eq!(render("{{ $c := index .Values \"c\" }}{{ $c.name }}", data).unwrap(), "x");
    }

    #[test]
    fn missing_keys_are_errors_when_printed_only() {
        let data = json!({"Values": {"c": {"intent": "training"}}});
        let t = "{{- $c := index .Values \"c\" }}{{- if $c.service }}s={{ $c.service }}{{ end }}i={{ $c.intent }}";
        assert_eq!(render(t, data.clone()).unwrap(), "i=training");
        let e = render("{{ $c := index .Values \"c\" }}a: {{ $c.accelerator }}", data).unwrap_err();
        assert!(e.data_error);
        assert!(e.to_string().contains("\"accelerator\""), "{e}");
        assert!(e.to_string().starts_with("template: t.yaml:1:"), "{e}");
    }

    #[test]
    fn conditions_and_functions() {
        let data = json!({"Values": {"g": {"dcgm": {"config": {"create": false, "name": "dcgm"}}, "n": 3, "t": [{"operator": "Exists"}]}}});
        let t = r#"{{- $g := index .Values "g" }}
{{- if and $g $g.dcgm $g.dcgm.config (ne (toString (index $g.dcgm.config "create")) "false") }}yes{{ else }}no{{ end }}
{{ default "d" $g.dcgm.config.name }} {{ $g.missing | default "fallback" }} {{ toString $g.n }}
{{ ne (toString ($g.auto | default true)) "false" }}
t:{{- toYaml $g.t | nindent 2 }}
{{ if eq $g.n 3 }}three{{ else if eq $g.n 4 }}four{{ end }}"#;
        assert_eq!(render(t, data).unwrap(), "no\ndcgm fallback 3\ntrue\nt:\n  - operator: Exists\nthree");
        // `and` stops before evaluating a field of a missing value's child.
        let t = "{{ $g := index .Values \"g\" }}{{ if and $g.driver $g.driver.kmc.name }}x{{ end }}ok";
        assert_eq!(render(t, json!({"Values": {"g": {"driver": null}}})).unwrap(), "ok");
    }

    #[test]
    fn range_with_and_else_if() {
        let data = json!({"items": ["a", "b"], "m": {"k2": 2, "k1": 1}, "w": {"x": "y"}});
        assert_eq!(render("{{ range .items }}[{{ . }}]{{ end }}", data.clone()).unwrap(), "[a][b]");
        assert_eq!(render("{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}", data.clone()).unwrap(), "k1=1;k2=2;");
        assert_eq!(render("{{ with .w }}{{ .x }}{{ end }}", data.clone()).unwrap(), "y");
        assert_eq!(render("{{ range .none }}x{{ else }}empty{{ end }}", data.clone()).unwrap(), "empty");
        assert_eq!(render("{{ if .no }}1{{ else if .w }}2{{ else }}3{{ end }}", data).unwrap(), "2");
    }

    #[test]
    fn printing_follows_go() {
        let data = json!({"f": 1000000.0, "i": 5, "b": true, "n": null, "l": [1, "a"], "m": {"b": 1, "a": "x"}});
        assert_eq!(
            render("{{ .f }} {{ .i }} {{ .b }} {{ .n }} {{ .l }} {{ .m }}", data).unwrap(),
            "1e+06 5 true <nil> [1 a] map[a:x b:1]"
        );
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "{{ if .x }}",
            "{{ end }}",
            "{{ nosuchfunc 1 }}",
            "{{ .x ",
            "{{ \"unterminated }}",
            "{{ define \"x\" }}{{ end }}",
        ] {
            assert!(Template::parse("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn helm_chart_helpers() {
        let files: BTreeMap<String, String> =
            [("static/c.yaml".to_string(), "a: 1\nb:\n    c: x\n".to_string())].into();
        let t = r#"{{- $s := .Files.Get "static/c.yaml" | fromYaml }}{{- $o := index .Values "c" | default dict }}{{ mergeOverwrite $s $o | toYaml }}"#;
        let tpl = Template::parse("t", t).unwrap();
        let out = tpl.render(&json!({"Values": {"c": {"b": {"d": 2}}}}), Some(&files)).unwrap();
        assert_eq!(out, "a: 1\nb:\n    c: x\n    d: 2");
        let out = tpl.render(&json!({"Values": {}}), Some(&files)).unwrap();
        assert_eq!(out, "a: 1\nb:\n    c: x");
        let e = Template::parse("t", "{{ required \"repoURL is required\" .Values.repoURL }}")
            .unwrap()
            .render(&json!({"Values": {}}), None);
        assert!(e.unwrap_err().message.contains("repoURL is required"));
        assert_eq!(render("{{ quote .s }}", json!({"s": "a\"b"})).unwrap(), "\"a\\\"b\"");
    }
}
