//! JSON in the Go server's encoding: compact, `<`, `>`, `&`, U+2028 and U+2029 escaped
//! as `\u003c`…, control characters other than `\n`, `\r`, `\t` as `\u00XX`, map keys
//! sorted, floats in Go's shortest form, and one trailing newline after a document
//! (recipe-engine spec §6.3). Clients that diff bytes rely on this.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};
use std::io::{self, Write};

/// A `serde_json` formatter that writes strings and floats the way Go's
/// `encoding/json` does.
#[derive(Clone, Copy, Debug, Default)]
pub struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(pos) = rest.find(['<', '>', '&', '\u{2028}', '\u{2029}']) {
            w.write_all(rest[..pos].as_bytes())?;
            let c = rest[pos..].chars().next().unwrap_or('\0');
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[pos + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        match escape {
            CharEscape::Quote => w.write_all(b"\\\""),
            CharEscape::ReverseSolidus => w.write_all(b"\\\\"),
            CharEscape::LineFeed => w.write_all(b"\\n"),
            CharEscape::CarriageReturn => w.write_all(b"\\r"),
            CharEscape::Tab => w.write_all(b"\\t"),
            CharEscape::Solidus => w.write_all(b"/"),
            CharEscape::Backspace => w.write_all(b"\\u0008"),
            CharEscape::FormFeed => w.write_all(b"\\u000c"),
            CharEscape::AsciiControl(b) => write!(w, "\\u{:04x}", b),
        }
    }

    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(go_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        w.write_all(go_float(f64::from(value)).as_bytes())
    }
}

/// Formats a float like Go's `encoding/json`: plain decimal for magnitudes in
/// [1e-6, 1e21), otherwise exponent form with an explicit sign (`1e+21`, `1e-7`).
pub fn go_float(v: f64) -> String {
    let abs = v.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        format!("{v}")
    } else {
        let s = format!("{v:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => s,
        }
    }
}

/// Serialises `value` compactly in Go's encoding, without a trailing newline.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    write(&mut out, value);
    out
}

/// Serialises `value` as a Go-encoded document: compact, then `\n`.
pub fn to_document<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = to_vec(value);
    out.push(b'\n');
    out
}

/// Appends `value` to `out` in Go's encoding.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let mut ser = Serializer::with_formatter(out, GoFormatter);
    // Serialising our own types into a Vec cannot fail: every map key is a string.
    value
        .serialize(&mut ser)
        .expect("JSON serialisation into memory");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_like_go() {
        let v = json!({"b": "<a & b>\u{2028}", "a": "\u{1}\u{8}\u{c}\n\t\"\\/é"});
        assert_eq!(
            String::from_utf8(to_document(&v)).unwrap(),
            "{\"a\":\"\\u0001\\u0008\\u000c\\n\\t\\\"\\\\/é\",\"b\":\"\\u003ca \\u0026 b\\u003e\\u2028\"}\n"
        );
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float(5.0), "5");
        assert_eq!(go_float(2.5), "2.5");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1e-7), "1e-7");
        assert_eq!(go_float(0.000001), "0.000001");
    }
}
