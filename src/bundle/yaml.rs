//! YAML text in the style of Go's `gopkg.in/yaml.v3` encoder (bundle spec §3.7): four
//! spaces per level, map keys in yaml.v3's "natural" order, plain scalars unless that
//! would change their meaning, literal blocks for multi-line strings, and floats in
//! Go's shortest `%g` form. Integers always print as integers (our stance §7.9).
//!
//! Values are first turned into a [`Node`] tree: serde_json maps are sorted the Go way,
//! Rust structs (through [`to_node`]) keep their field order, as Go structs do.

use serde::Serialize;
use serde::ser::{self, Impossible};
use serde_json::Value;
use std::cmp::Ordering;
use std::fmt::{self, Write};

/// A YAML value ready to print; maps hold their entries in output order.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer beyond `i64`.
    UInt(u64),
    /// A double.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in output order.
    Map(Vec<(String, Node)>),
}

/// JSON cannot hold infinities or NaN; values that must be these doubles (a `set`
/// of `inf`, say) carry one of these marker strings, which print as `.inf`,
/// `-.inf` and `.nan`.
pub const SPECIAL_FLOATS: [(&str, f64); 3] =
    [("\u{1}float:+Inf", f64::INFINITY), ("\u{1}float:-Inf", f64::NEG_INFINITY), ("\u{1}float:NaN", f64::NAN)];

/// The marker string of a non-finite double.
pub fn special_float_marker(v: f64) -> &'static str {
    if v.is_nan() {
        SPECIAL_FLOATS[2].0
    } else if v > 0.0 {
        SPECIAL_FLOATS[0].0
    } else {
        SPECIAL_FLOATS[1].0
    }
}

impl From<&Value> for Node {
    fn from(value: &Value) -> Node {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Node::Int(i),
                (None, Some(u)) => Node::UInt(u),
                _ => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => match SPECIAL_FLOATS.iter().find(|(m, _)| m == s) {
                Some((_, f)) => Node::Float(*f),
                None => Node::Str(s.clone()),
            },
            Value::Array(items) => Node::Seq(items.iter().map(Node::from).collect()),
            Value::Object(map) => {
                let mut entries: Vec<(String, Node)> = map.iter().map(|(k, v)| (k.clone(), Node::from(v))).collect();
                entries.sort_by(|a, b| key_order(&a.0, &b.0));
                Node::Map(entries)
            }
        }
    }
}

impl Node {
    /// A serde_json map as a YAML mapping (keys in Go order), without cloning it first.
    pub fn from_map(map: &serde_json::Map<String, Value>) -> Node {
        let mut entries: Vec<(String, Node)> = map.iter().map(|(k, v)| (k.clone(), Node::from(v))).collect();
        entries.sort_by(|a, b| key_order(&a.0, &b.0));
        Node::Map(entries)
    }
}

/// yaml.v3's key order for string keys: letters compare by code point, a letter sorts
/// after a non-letter (before it when the common prefix ends in a digit), and digit
/// runs compare by numeric value (`item2` < `item10`); a prefix sorts first.
pub fn key_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        natural_order(a.as_bytes(), b.as_bytes(), |c| c.is_ascii_alphabetic(), u32::from)
    } else {
        let ar: Vec<char> = a.chars().collect();
        let br: Vec<char> = b.chars().collect();
        natural_order(&ar, &br, |c| c.is_alphabetic(), u32::from)
    }
}

fn natural_order<T: Copy + Ord>(
    ar: &[T],
    br: &[T],
    is_letter: impl Fn(T) -> bool,
    code: impl Fn(T) -> u32,
) -> Ordering {
    let is_digit = |c: T| (48..=57).contains(&code(c));
    let mut after_digit = false;
    for i in 0..ar.len().min(br.len()) {
        let (x, y) = (ar[i], br[i]);
        if x == y {
            after_digit = is_digit(x);
            continue;
        }
        let (xl, yl) = (is_letter(x), is_letter(y));
        if xl && yl {
            return x.cmp(&y);
        }
        if xl || yl {
            let a_first = if after_digit { xl } else { yl };
            return if a_first { Ordering::Less } else { Ordering::Greater };
        }
        // Both non-letters: compare the digit runs starting here numerically.
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if code(x) == 48 || code(y) == 48 {
            // A zero inside a number that started earlier counts as a digit of it.
            if ar[..i].iter().rev().take_while(|c| is_digit(**c)).any(|c| code(*c) != 48) {
                an = 1;
                bn = 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && is_digit(ar[ai]) {
            an = an.wrapping_mul(10).wrapping_add(i64::from(code(ar[ai]) - 48));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && is_digit(br[bi]) {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(code(br[bi]) - 48));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return x.cmp(&y);
    }
    ar.len().cmp(&br.len())
}

/// Formats a double like Go's `strconv.FormatFloat(v, 'g', -1, 64)`: shortest digits,
/// exponent form when the decimal exponent is below -4 or at least 6.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if v != 0.0 && !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        format!("{v}")
    }
}

/// A YAML float scalar: Go's text with `.inf`, `-.inf`, `.nan` for the specials.
fn float_text(v: f64) -> String {
    match go_float(v).as_str() {
        "+Inf" => ".inf".into(),
        "-Inf" => "-.inf".into(),
        "NaN" => ".nan".into(),
        s => s.to_string(),
    }
}

/// Renders `node` as one YAML document (no `---`), ending in a newline.
pub fn to_string(node: &Node) -> String {
    let mut out = String::with_capacity(1024);
    match node {
        Node::Map(entries) if !entries.is_empty() => write_map(&mut out, entries, 0, false),
        Node::Seq(items) if !items.is_empty() => write_seq(&mut out, items, 0, false),
        scalar => {
            write_inline(&mut out, scalar, 0, false);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}

/// A string as a single-line YAML scalar (plain or quoted; multi-line text is
/// double-quoted), for splicing into template text.
pub fn scalar(s: &str) -> String {
    let mut out = String::new();
    if s.contains('\n') {
        write_double(&mut out, s);
    } else {
        write_scalar_str(&mut out, s, 0, false);
    }
    out
}

/// Renders a serde_json value (maps in Go order).
pub fn value_to_string(value: &Value) -> String {
    to_string(&Node::from(value))
}

/// Indentation of the children of a block at `indent` (yaml.v3 rounds up to the next
/// multiple of four).
fn child_indent(indent: usize) -> usize {
    4 * ((indent + 4) / 4)
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Writes the entries of a non-empty map whose keys sit at column `indent`; with
/// `inline` the first key continues the current line (after `- `).
fn write_map(out: &mut String, entries: &[(String, Node)], indent: usize, inline: bool) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 || !inline {
            pad(out, indent);
        }
        write_scalar_str(out, key, indent, true);
        out.push(':');
        write_value_after(out, value, indent, false);
    }
}

/// Writes the items of a non-empty sequence whose dashes sit at column `indent`.
fn write_seq(out: &mut String, items: &[Node], indent: usize, inline: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            pad(out, indent);
        }
        out.push('-');
        write_value_after(out, item, indent, true);
    }
}

/// Writes a value after `key:` (in a map at `indent`) or after `-` (a sequence item
/// whose dash is at `indent`).
fn write_value_after(out: &mut String, value: &Node, indent: usize, in_seq: bool) {
    match value {
        Node::Map(entries) if !entries.is_empty() => {
            if in_seq {
                out.push(' ');
                write_map(out, entries, indent + 2, true);
            } else {
                out.push('\n');
                write_map(out, entries, child_indent(indent), false);
            }
        }
        Node::Seq(items) if !items.is_empty() => {
            if in_seq {
                out.push(' ');
                write_seq(out, items, indent + 2, true);
            } else {
                out.push('\n');
                write_seq(out, items, child_indent(indent), false);
            }
        }
        scalar => {
            out.push(' ');
            let block_indent = if in_seq { indent + 2 } else { child_indent(indent) };
            write_inline(out, scalar, block_indent, false);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
}

/// Writes a scalar (or an empty collection) on the current line; a literal block's
/// content goes at `block_indent`.
fn write_inline(out: &mut String, node: &Node, block_indent: usize, is_key: bool) {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Node::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Node::Float(f) => out.push_str(&float_text(*f)),
        Node::Str(s) => write_scalar_str(out, s, block_indent, is_key),
        Node::Seq(_) => out.push_str("[]"),
        Node::Map(_) => out.push_str("{}"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// How yaml.v3 would write string `s`.
fn style_of(s: &str, is_key: bool) -> Style {
    // Fast path: identifier-like text that is not a keyword is always plain.
    let b = s.as_bytes();
    if !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'/' | b'-'))
        && !is_old_bool(s)
        && !resolves_to_non_string(s)
    {
        return Style::Plain;
    }
    let requested = if resolves_to_non_string(s) || is_base60_float(s) || is_old_bool(s) {
        Style::Double
    } else if s.contains('\n') {
        Style::Literal
    } else {
        Style::Plain
    };
    let a = analyze(s);
    let mut style = requested;
    if is_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.plain_allowed || (s.is_empty() && is_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || is_key) {
        style = Style::Double;
    }
    style
}

fn write_scalar_str(out: &mut String, s: &str, block_indent: usize, is_key: bool) {
    match style_of(s, is_key) {
        Style::Plain => out.push_str(s),
        Style::Single => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Style::Double => write_double(out, s),
        Style::Literal => write_literal(out, s, block_indent),
    }
}

fn write_double(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if is_printable(c) && c != '\u{feff}' => out.push(c),
            c if (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
}

fn write_literal(out: &mut String, s: &str, indent: usize) {
    out.push('|');
    if s.starts_with([' ', '\n']) {
        out.push('4');
    }
    let trailing = s.len() - s.trim_end_matches('\n').len();
    if trailing == 0 {
        out.push('-');
    } else if trailing >= 2 || s == "\n" {
        out.push('+');
    }
    out.push('\n');
    let mut line_start = true;
    for c in s.chars() {
        if c == '\n' {
            out.push('\n');
            line_start = true;
        } else {
            if line_start {
                pad(out, indent);
                line_start = false;
            }
            out.push(c);
        }
    }
}

/// yaml.v3's notion of printable (YAML's c-printable minus the 4-byte planes).
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a || (0x20..=0x7e).contains(&u) || (0xa0..=0xd7ff).contains(&u) || (0xe000..=0xfffd).contains(&u)
}

struct Analysis {
    multiline: bool,
    plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

/// The scalar analysis of libyaml's emitter, for block context.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis { multiline: false, plain_allowed: true, single_allowed: true, block_allowed: false };
    }
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let is_break = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let mut iter = s.chars().peekable();
    let mut i = 0usize;
    while let Some(c) = iter.next() {
        let next = iter.peek().copied();
        let last = next.is_none();
        let followed_by_whitespace = next.is_none_or(|n| n == ' ' || n == '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_indicators = true
                }
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) || c == '\u{feff}' {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
        i += 1;
    }
    let mut a = Analysis { multiline: line_breaks, plain_allowed: true, single_allowed: true, block_allowed: true };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || special {
        a.plain_allowed = false;
        a.single_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.plain_allowed = false;
    }
    // Line breaks other than '\n' are not reproduced inside literal blocks.
    if s.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}']) {
        a.block_allowed = false;
    }
    a
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF"
    )
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (head, frac) = match s.split_once('.') {
        Some((h, f)) => (h, Some(f)),
        None => (s, None),
    };
    if frac.is_some_and(|f| !f.bytes().all(|b| b.is_ascii_digit() || b == b'_')) {
        return false;
    }
    let mut parts = head.split(':');
    let first = parts.next().unwrap_or("");
    if !first.starts_with(|c: char| c.is_ascii_digit()) || !first.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && rest.iter().all(|p| {
            let b = p.as_bytes();
            match b.len() {
                1 => b[0].is_ascii_digit(),
                2 => (b'0'..=b'5').contains(&b[0]) && b[1].is_ascii_digit(),
                _ => false,
            }
        })
}

/// Whether yaml.v3's resolver reads plain `s` as something other than a string
/// (null, bool, int, float, timestamp, merge key).
fn resolves_to_non_string(s: &str) -> bool {
    match s {
        "" | "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | ".nan"
        | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | "<<" => {
            return true;
        }
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => is_yaml_float(s),
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return true;
            }
            let plain = s.replace('_', "");
            parse_go_int(&plain) || is_yaml_float(&plain)
        }
        _ => false,
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit()),
        Some((int, frac)) => int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit()),
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exp_ok
}

/// Go `strconv.ParseInt(s, 0, 64)` or `ParseUint(s, 0, 64)` succeeds (also the
/// `0b`/`0o` forms yaml.v3 tries).
fn parse_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (digits, radix) = if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (r, 16)
    } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (r, 2)
    } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (r, 8)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    !digits.is_empty() && u64::from_str_radix(digits, radix).is_ok()
}

/// yaml.v3's timestamp forms: `YYYY-M-D`, optionally followed by `[Tt ]h:m:s[.frac]`
/// and (for `T`/`t`) a zone `Z` or `±hh:mm`.
fn is_timestamp(s: &str) -> bool {
    fn num(s: &str, min: usize, max: usize) -> Option<u32> {
        (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    }
    if s.len() < 8 || !s.as_bytes()[..4].iter().all(u8::is_ascii_digit) || s.as_bytes()[4] != b'-' {
        return false;
    }
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some((&s[i..i + 1], &s[i + 1..]))),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let (Some(_), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Some(m), Some(d)) = (num(m, 1, 2), num(d, 1, 2)) else {
        return false;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return false;
    }
    let Some((sep, rest)) = time else { return true };
    let (clock, zone) = if sep == " " {
        (rest, "")
    } else if let Some(c) = rest.strip_suffix('Z') {
        (c, "Z")
    } else {
        match rest.rfind(['+', '-']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => return false,
        }
    };
    if !zone.is_empty() && zone != "Z" {
        let z = &zone[1..];
        let Some((h, m)) = z.split_once(':') else {
            return false;
        };
        if num(h, 2, 2).is_none() || num(m, 2, 2).is_none() {
            return false;
        }
    }
    let (hms, frac) = match clock.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (clock, None),
    };
    if frac.is_some_and(|f| num(f, 1, 9).is_none()) {
        return false;
    }
    let mut p = hms.split(':');
    matches!(
        (p.next().and_then(|h| num(h, 1, 2)), p.next().and_then(|m| num(m, 1, 2)), p.next().and_then(|s| num(s, 1, 2)), p.next()),
        (Some(h), Some(m), Some(sec), None) if h < 24 && m < 60 && sec < 60
    )
}

// ---------------------------------------------------------------------------
// serde → Node, keeping struct field order and sorting maps the Go way.

/// Serialisation failure (only non-string map keys of exotic types).
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Converts any serialisable value to a [`Node`]: struct fields in declaration order,
/// map entries sorted by [`key_order`].
pub fn to_node<T: Serialize + ?Sized>(value: &T) -> Result<Node, Error> {
    value.serialize(NodeSerializer)
}

struct NodeSerializer;

/// Collects sequence items.
pub struct SeqBuilder(Vec<Node>);
/// Collects map entries; `sorted` maps are ordered on completion.
pub struct MapBuilder {
    entries: Vec<(String, Node)>,
    key: Option<String>,
    sorted: bool,
}

impl ser::Serializer for NodeSerializer {
    type Ok = Node;
    type Error = Error;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = Impossible<Node, Error>;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = Impossible<Node, Error>;

    fn serialize_bool(self, v: bool) -> Result<Node, Error> {
        Ok(Node::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Node, Error> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Node, Error> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Node, Error> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Node, Error> {
        Ok(Node::Int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Node, Error> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Node, Error> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Node, Error> {
        Ok(Node::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Node, Error> {
        Ok(i64::try_from(v).map_or(Node::UInt(v), Node::Int))
    }
    fn serialize_f32(self, v: f32) -> Result<Node, Error> {
        Ok(Node::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Node, Error> {
        Ok(Node::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Node, Error> {
        Ok(Node::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Node, Error> {
        Ok(Node::Str(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Node, Error> {
        Ok(Node::Seq(v.iter().map(|b| Node::Int((*b).into())).collect()))
    }
    fn serialize_none(self) -> Result<Node, Error> {
        Ok(Node::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Node, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Node, Error> {
        Ok(Node::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Node, Error> {
        Ok(Node::Null)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<Node, Error> {
        Ok(Node::Str(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<Node, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Node, Error> {
        Ok(Node::Map(vec![(variant.to_string(), value.serialize(self)?)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, Error> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqBuilder, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error(format!("tuple variant {name} is not supported")))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapBuilder, Error> {
        Ok(MapBuilder { entries: Vec::new(), key: None, sorted: true })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MapBuilder, Error> {
        Ok(MapBuilder { entries: Vec::new(), key: None, sorted: false })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error(format!("struct variant {name} is not supported")))
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Node;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.0.push(value.serialize(NodeSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Node, Error> {
        Ok(Node::Seq(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Node;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Node, Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Node;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Node, Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Node;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        let key = match key.serialize(NodeSerializer)? {
            Node::Str(s) => s,
            Node::Int(i) => i.to_string(),
            Node::UInt(u) => u.to_string(),
            Node::Bool(b) => b.to_string(),
            other => return Err(Error(format!("unsupported map key {other:?}"))),
        };
        self.key = Some(key);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self.key.take().ok_or_else(|| Error("map value without a key".into()))?;
        self.entries.push((key, value.serialize(NodeSerializer)?));
        Ok(())
    }
    fn end(mut self) -> Result<Node, Error> {
        if self.sorted {
            self.entries.sort_by(|a, b| key_order(&a.0, &b.0));
        }
        Ok(Node::Map(self.entries))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Node;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.entries.push((key.to_string(), value.serialize(NodeSerializer)?));
        Ok(())
    }
    fn end(self) -> Result<Node, Error> {
        Ok(Node::Map(self.entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn y(v: Value) -> String {
        value_to_string(&v)
    }

    #[test]
    fn floats_follow_go_g_format() {
        for (v, s) in [
            (1e3, "1000"),
            (1.5, "1.5"),
            (0.25, "0.25"),
            (16.0, "16"),
            (123456.0, "123456"),
            (999999.0, "999999"),
            (100000.5, "100000.5"),
            (0.0001, "0.0001"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (12345678.9, "1.23456789e+07"),
            (1e20, "1e+20"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (1e-5, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(go_float(v), s, "{v}");
        }
        assert_eq!(float_text(f64::INFINITY), ".inf");
        assert_eq!(float_text(f64::NEG_INFINITY), "-.inf");
        assert_eq!(float_text(f64::NAN), ".nan");
    }

    #[test]
    fn strings_are_quoted_only_when_needed() {
        let cases = [
            ("plain", "plain"),
            ("true", "\"true\""),
            ("True", "\"True\""),
            ("109", "\"109\""),
            ("1.0", "\"1.0\""),
            ("null", "\"null\""),
            ("~", "\"~\""),
            ("", "\"\""),
            ("0x10", "\"0x10\""),
            ("0o17", "\"0o17\""),
            ("2024-01-01", "\"2024-01-01\""),
            ("y", "\"y\""),
            ("no", "\"no\""),
            ("OFF", "\"OFF\""),
            (">= 1.32.4", "'>= 1.32.4'"),
            (" padded ", "' padded '"),
            ("\"q\"", "'\"q\"'"),
            ("a:b", "a:b"),
            ("k=v", "k=v"),
            ("1.2.3", "1.2.3"),
            ("580.105.08", "580.105.08"),
            ("cdi-cri,cdi-annotations", "cdi-cri,cdi-annotations"),
            ("a: b", "'a: b'"),
            ("- x", "'- x'"),
            ("x #y", "'x #y'"),
            ("it's", "it's"),
            ("*star", "'*star'"),
            ("tab\there", "\"tab\\there\""),
            ("1:20", "\"1:20\""),
            ("1_000", "\"1_000\""),
            ("+5", "\"+5\""),
            ("-", "'-'"),
            ("$values/x.yaml", "$values/x.yaml"),
            ("{{ .RepoURL }}", "'{{ .RepoURL }}'"),
        ];
        for (s, want) in cases {
            assert_eq!(y(json!({ "k": s })), format!("k: {want}\n"), "{s:?}");
        }
        assert_eq!(y(json!({"n": null, "yes": "yes"})), "\"n\": null\n\"yes\": \"yes\"\n");
    }

    #[test]
    fn block_layout_matches_yaml_v3() {
        let v = json!({
            "b": {"list": [{"name": "x", "value": "1", "sub": {"deep": [1, 2]}}], "empty": {}, "none": []},
            "a": [[1, 2], "s"],
            "text": "line1\nline2\n",
        });
        let want = "\
a:
    - - 1
      - 2
    - s
b:
    empty: {}
    list:
        - name: x
          sub:
            deep:
                - 1
                - 2
          value: \"1\"
    none: []
text: |
    line1
    line2
";
        assert_eq!(y(v), want);
        assert_eq!(y(json!([{"operator": "Exists"}])), "- operator: Exists\n");
        assert_eq!(y(json!({"s": "a\n\nb"})), "s: |-\n    a\n\n    b\n");
        assert_eq!(y(json!({"s": " lead\nx\n\n"})), "s: |4+\n     lead\n    x\n\n");
        assert_eq!(y(json!({})), "{}\n");
    }

    #[test]
    fn keys_sort_naturally() {
        let mut keys = vec!["item10", "item2", "b", "B", "a1", "a_", "a", "ab", "a-b", "x0", "x01"];
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(keys, ["B", "a", "a-b", "a_", "a1", "ab", "b", "item2", "item10", "x0", "x01"]);
    }

    #[test]
    fn structs_keep_field_order() {
        #[derive(Serialize)]
        struct S {
            zed: u32,
            alpha: Option<String>,
            map: std::collections::BTreeMap<String, i32>,
        }
        let s = S { zed: 1, alpha: None, map: [("b".into(), 1), ("a".into(), 2)].into() };
        assert_eq!(to_string(&to_node(&s).unwrap()), "zed: 1\nalpha: null\nmap:\n    a: 2\n    b: 1\n");
    }
}
