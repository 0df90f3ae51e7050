//! `Accept-Encoding` negotiation among the codings a recipe is baked in (RFC 9110
//! §12.5.3): q-values, `*`, `identity;q=0`. On equal weight the smaller coding wins
//! (zstd, then gzip, then identity).

use crate::table::Coding;

/// Codings we can serve, in order of preference on ties.
const PREFERENCE: [Coding; 3] = [Coding::Zstd, Coding::Gzip, Coding::Identity];

/// Parses a q-value (`0`, `0.5`, `1.000`): at most three decimals, 0..=1, in
/// thousandths. `None` if malformed.
fn parse_q(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = frac
        .bytes()
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'))
        * 10u16.pow(3 - frac.len() as u32);
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

/// Picks the coding to send for an `Accept-Encoding` value (`None` = header absent,
/// which accepts anything: we send identity). `Err(())` means nothing we have is
/// acceptable (406).
#[allow(clippy::result_unit_err)]
pub fn negotiate(header: Option<&str>) -> Result<Coding, ()> {
    let Some(header) = header else {
        return Ok(Coding::Identity);
    };
    let mut explicit: [Option<u16>; 3] = [None; 3];
    let mut star: Option<u16> = None;
    for element in header.split(',') {
        let mut parts = element.split(';');
        let name = parts.next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        let mut q = Some(1000);
        for param in parts {
            let (k, v) = param.split_once('=').unwrap_or((param, ""));
            if k.trim().eq_ignore_ascii_case("q") {
                q = parse_q(v.trim());
            }
        }
        let Some(q) = q else { continue };
        let slot = if name == "*" {
            &mut star
        } else if name.eq_ignore_ascii_case("zstd") {
            &mut explicit[0]
        } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            &mut explicit[1]
        } else if name.eq_ignore_ascii_case("identity") {
            &mut explicit[2]
        } else {
            continue;
        };
        if slot.is_none() {
            *slot = Some(q);
        }
    }
    let weight = |i: usize| match (explicit[i], star) {
        (Some(q), _) => q,
        (None, Some(q)) => q,
        // identity is acceptable unless excluded; other codings only when named.
        (None, None) if PREFERENCE[i] == Coding::Identity => 1,
        (None, None) => 0,
    };
    let mut best: Option<(u16, Coding)> = None;
    for (i, coding) in PREFERENCE.iter().enumerate() {
        let w = weight(i);
        if w > 0 && best.is_none_or(|(bw, _)| w > bw) {
            best = Some((w, *coding));
        }
    }
    best.map(|(_, c)| c).ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn negotiation_table() {
        let cases: &[(Option<&str>, Result<Coding, ()>)] = &[
            (None, Ok(Coding::Identity)),
            (Some(""), Ok(Coding::Identity)),
            (Some("gzip"), Ok(Coding::Gzip)),
            (Some("gzip, deflate, br, zstd"), Ok(Coding::Zstd)),
            (Some("zstd;q=0.5, gzip"), Ok(Coding::Gzip)),
            (Some("gzip; q=0.5"), Ok(Coding::Gzip)),
            (Some("GZIP;Q=1.0"), Ok(Coding::Gzip)),
            (Some("x-gzip"), Ok(Coding::Gzip)),
            (Some("br"), Ok(Coding::Identity)),
            (Some("*"), Ok(Coding::Zstd)),
            (Some("*;q=0"), Err(())),
            (Some("identity;q=0"), Err(())),
            (Some("gzip;q=0, identity;q=0"), Err(())),
            (Some("identity;q=0, gzip;q=0.1"), Ok(Coding::Gzip)),
            (Some("*;q=0, identity"), Ok(Coding::Identity)),
            (Some("gzip;q=0"), Ok(Coding::Identity)),
            (Some("zstd;q=0.001, identity;q=0.002"), Ok(Coding::Identity)),
            (Some("gzip;q=2"), Ok(Coding::Identity)),
            (Some("gzip;q=0.1234"), Ok(Coding::Identity)),
            (Some("identity, gzip"), Ok(Coding::Gzip)),
        ];
        for (header, expected) in cases {
            assert_eq!(negotiate(*header), *expected, "{header:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(header in ".{0,200}") {
            let _ = negotiate(Some(&header));
        }

        #[test]
        fn an_explicit_zero_is_never_chosen(name in prop::sample::select(vec!["gzip", "zstd"]), other in "[a-z*;=0-9., ]{0,40}") {
            let header = format!("{other}, {name};q=0");
            let banned = if name == "gzip" { Coding::Gzip } else { Coding::Zstd };
            if !other.to_ascii_lowercase().contains(name) {
                prop_assert_ne!(negotiate(Some(&header)), Ok(banned));
            }
        }
    }
}
