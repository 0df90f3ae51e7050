//! Criteria: the five enum dimensions a recipe is selected by, plus `nodes`.
//!
//! Values are normalised the way the Go server does it (recipe-engine spec §2.1):
//! trim Unicode white space, lower-case rune by rune with the *simple* mapping, then
//! look the result up among the canonical names and their aliases. `""` means `any`.
//! The accepted values are the superset documented by NVIDIA's current API (lke,
//! rtx-pro-6000, talos on top of v0.11.1's lists).

use std::fmt;

/// Defines one criteria dimension: a `Copy` enum with its canonical spellings,
/// the aliases that map onto them, and a parser.
macro_rules! dimension {
    (
        $(#[$doc:meta])*
        $name:ident, $field:literal,
        [$($variant:ident = $text:literal),+ $(,)?],
        aliases [$($alias:literal => $target:ident),* $(,)?]
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub enum $name {
            /// Matches every overlay that does not name a specific value.
            #[default]
            Any,
            $(
                #[doc = concat!("`", $text, "`")]
                $variant,
            )+
        }

        impl $name {
            /// Every value, `Any` first, in declaration order.
            pub const ALL: &'static [$name] = &[$name::Any, $($name::$variant),+];
            /// The request field this dimension is read from.
            pub const FIELD: Field = Field::$name;

            /// Canonical lower-case spelling, as echoed in recipes.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $name::Any => "any",
                    $($name::$variant => $text,)+
                }
            }

            /// Parses a raw request value (untrimmed, any case). `Err` carries the raw text.
            pub fn parse(raw: &str) -> Result<Self, CriteriaError> {
                let folded = fold(raw);
                match folded.as_str() {
                    "" | "any" => Ok($name::Any),
                    $($text => Ok($name::$variant),)+
                    $($alias => Ok($name::$target),)*
                    _ => Err(CriteriaError::InvalidValue { field: Field::$name, raw: raw.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

dimension!(
    /// Kubernetes service (cloud or distribution) the cluster runs on.
    Service, "service",
    [Eks = "eks", Gke = "gke", Aks = "aks", Oke = "oke", Kind = "kind", Lke = "lke"],
    aliases ["self-managed" => Any, "self" => Any, "vanilla" => Any]
);
dimension!(
    /// GPU model of the accelerated nodes.
    Accelerator, "accelerator",
    [H100 = "h100", Gb200 = "gb200", B200 = "b200", A100 = "a100", L40 = "l40", RtxPro6000 = "rtx-pro-6000"],
    aliases []
);
dimension!(
    /// What the cluster is for.
    Intent, "intent",
    [Training = "training", Inference = "inference"],
    aliases []
);
dimension!(
    /// Operating system of the GPU nodes.
    Os, "os",
    [Ubuntu = "ubuntu", Rhel = "rhel", Cos = "cos", Amazonlinux = "amazonlinux", Talos = "talos"],
    aliases ["al2" => Amazonlinux, "al2023" => Amazonlinux]
);
dimension!(
    /// ML platform layered on top of the base stack.
    Platform, "platform",
    [Kubeflow = "kubeflow", Dynamo = "dynamo"],
    aliases []
);

/// The six criteria fields, in the order the Go server validates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `service`
    Service,
    /// `accelerator` (GET alias `gpu`)
    Accelerator,
    /// `intent`
    Intent,
    /// `os`
    Os,
    /// `platform`
    Platform,
    /// `nodes`
    Nodes,
}

impl Field {
    /// The request field name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Field::Service => "service",
            Field::Accelerator => "accelerator",
            Field::Intent => "intent",
            Field::Os => "os",
            Field::Platform => "platform",
            Field::Nodes => "nodes",
        }
    }
}

/// Largest accepted `nodes` (our stance Q4: a non-negative `int32`).
pub const MAX_NODES: u32 = i32::MAX as u32;

/// A criteria value that failed validation. `Display` gives the inner
/// `[INVALID_REQUEST] …` text; the HTTP layer adds the GET/POST wrapper.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CriteriaError {
    /// An enum value that is not a known spelling.
    #[error("[INVALID_REQUEST] invalid {} type: {raw}", field.as_str())]
    InvalidValue {
        /// Which dimension.
        field: Field,
        /// The value as sent (decoded, untrimmed, original case).
        raw: String,
    },
    /// `nodes` that is not a plain decimal integer in range.
    #[error("[INVALID_REQUEST] invalid nodes value: {raw}")]
    InvalidNodes {
        /// The value as sent.
        raw: String,
    },
    /// `nodes` below zero.
    #[error("[INVALID_REQUEST] invalid nodes count: {value} (must be >= 0)")]
    NegativeNodes {
        /// The parsed value.
        value: i64,
    },
}

impl CriteriaError {
    /// The field the error is about.
    pub fn field(&self) -> Field {
        match self {
            CriteriaError::InvalidValue { field, .. } => *field,
            _ => Field::Nodes,
        }
    }

    /// The GET wording: `[INVALID_REQUEST] invalid <field> parameter: <inner>` for enum
    /// fields, the bare inner text for `nodes`.
    pub fn query_text(&self) -> String {
        match self {
            CriteriaError::InvalidValue { field, .. } => {
                format!(
                    "[INVALID_REQUEST] invalid {} parameter: {self}",
                    field.as_str()
                )
            }
            _ => self.to_string(),
        }
    }

    /// The POST-body wording: `[INVALID_REQUEST] invalid <field> in criteria spec: <inner>`.
    pub fn body_text(&self) -> String {
        match self {
            CriteriaError::InvalidValue { field, .. } => {
                format!(
                    "[INVALID_REQUEST] invalid {} in criteria spec: {self}",
                    field.as_str()
                )
            }
            _ => self.to_string(),
        }
    }
}

/// Trims Unicode white space and lower-cases with the simple 1:1 mapping.
///
/// Rust's `to_lowercase` applies the full mapping (U+0130 becomes two code points);
/// Go's `unicode.ToLower` does not, and U+0130 → `i`, U+212A → `k` are the only
/// non-ASCII characters that fold onto ASCII. Everything else non-ASCII can never
/// match an enum spelling, so any single-char fold is good enough for it.
fn fold(raw: &str) -> String {
    raw.trim()
        .chars()
        .map(|c| match c {
            '\u{0130}' => 'i',
            '\u{212A}' => 'k',
            c if c.is_ascii() => c.to_ascii_lowercase(),
            c => c.to_lowercase().next().unwrap_or(c),
        })
        .collect()
}

/// Parses a `nodes` value (our stance Q4): optional surrounding white space (a
/// newline before the digits is rejected, as Go's scanner does), one optional sign,
/// then decimal digits only, at most `2^31-1`. Negative numbers are reported as such.
pub fn parse_nodes(raw: &str) -> Result<u32, CriteriaError> {
    let invalid = || CriteriaError::InvalidNodes {
        raw: raw.to_owned(),
    };
    let start = raw.trim_start_matches(|c: char| c.is_whitespace() && c != '\n');
    if start.len() != raw.len() && raw[..raw.len() - start.len()].contains('\n') {
        return Err(invalid());
    }
    let (negative, digits) = match start.as_bytes().first() {
        Some(b'+') => (false, &start[1..]),
        Some(b'-') => (true, &start[1..]),
        _ => (false, start),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let magnitude: i64 = digits.parse().map_err(|_| invalid())?;
    if negative && magnitude != 0 {
        return Err(CriteriaError::NegativeNodes { value: -magnitude });
    }
    u32::try_from(magnitude)
        .ok()
        .filter(|n| *n <= MAX_NODES)
        .ok_or_else(invalid)
}

/// The enum part of a criteria: exactly what selects a recipe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CriteriaKey {
    /// Service dimension.
    pub service: Service,
    /// Accelerator dimension.
    pub accelerator: Accelerator,
    /// Intent dimension.
    pub intent: Intent,
    /// OS dimension.
    pub os: Os,
    /// Platform dimension.
    pub platform: Platform,
}

impl CriteriaKey {
    /// Number of combinations in the full matrix.
    pub const COUNT: usize = Service::ALL.len()
        * Accelerator::ALL.len()
        * Intent::ALL.len()
        * Os::ALL.len()
        * Platform::ALL.len();

    /// Every combination, in a fixed order (service outermost, platform innermost).
    pub fn all() -> impl Iterator<Item = CriteriaKey> {
        Service::ALL.iter().flat_map(|&service| {
            Accelerator::ALL.iter().flat_map(move |&accelerator| {
                Intent::ALL.iter().flat_map(move |&intent| {
                    Os::ALL.iter().flat_map(move |&os| {
                        Platform::ALL.iter().map(move |&platform| CriteriaKey {
                            service,
                            accelerator,
                            intent,
                            os,
                            platform,
                        })
                    })
                })
            })
        })
    }

    /// The canonical key: the five canonical values joined by `.`
    /// (e.g. `eks.h100.training.ubuntu.any`). Dots never occur in a value.
    pub fn canonical(&self) -> String {
        let mut s = String::with_capacity(48);
        self.write_canonical(&mut s);
        s
    }

    /// Appends the canonical key to `out` (no allocation if it has room).
    pub fn write_canonical(&self, out: &mut String) {
        for (i, part) in self.parts().iter().enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push_str(part);
        }
    }

    /// The five canonical values in key order.
    pub fn parts(&self) -> [&'static str; 5] {
        [
            self.service.as_str(),
            self.accelerator.as_str(),
            self.intent.as_str(),
            self.os.as_str(),
            self.platform.as_str(),
        ]
    }

    /// Value of one dimension by field (`None` for `nodes`).
    pub fn get(&self, field: Field) -> Option<&'static str> {
        Some(match field {
            Field::Service => self.service.as_str(),
            Field::Accelerator => self.accelerator.as_str(),
            Field::Intent => self.intent.as_str(),
            Field::Os => self.os.as_str(),
            Field::Platform => self.platform.as_str(),
            Field::Nodes => return None,
        })
    }
}

impl fmt::Display for CriteriaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// Fully parsed request criteria.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Criteria {
    /// The enum dimensions.
    pub key: CriteriaKey,
    /// Node count; 0 means unspecified and is not echoed.
    pub nodes: u32,
}

/// Raw, unvalidated criteria strings, as they come from a query string or a body.
/// `None` and `Some("")` both mean "not given".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawCriteria {
    /// `service`
    pub service: Option<String>,
    /// `accelerator`
    pub accelerator: Option<String>,
    /// `intent`
    pub intent: Option<String>,
    /// `os`
    pub os: Option<String>,
    /// `platform`
    pub platform: Option<String>,
    /// `nodes`, as text
    pub nodes: Option<String>,
}

impl RawCriteria {
    /// Validates in the Go server's order: service, accelerator, intent, os, platform,
    /// nodes; the first failure is returned.
    pub fn parse(&self) -> Result<Criteria, CriteriaError> {
        fn val(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or("")
        }
        let key = CriteriaKey {
            service: Service::parse(val(&self.service))?,
            accelerator: Accelerator::parse(val(&self.accelerator))?,
            intent: Intent::parse(val(&self.intent))?,
            os: Os::parse(val(&self.os))?,
            platform: Platform::parse(val(&self.platform))?,
        };
        let nodes = match self.nodes.as_deref() {
            None | Some("") => 0,
            Some(raw) => parse_nodes(raw)?,
        };
        Ok(Criteria { key, nodes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_has_the_documented_size() {
        assert_eq!(CriteriaKey::COUNT, 7 * 7 * 3 * 6 * 3);
        assert_eq!(CriteriaKey::all().count(), CriteriaKey::COUNT);
    }

    #[test]
    fn folding_follows_go_simple_case_mapping() {
        assert_eq!(Service::parse(" EKS\u{85}"), Ok(Service::Eks));
        assert_eq!(Service::parse("\u{A0}eks\u{2003}"), Ok(Service::Eks));
        assert_eq!(Service::parse("\u{212A}ind"), Ok(Service::Kind));
        assert_eq!(Intent::parse("tra\u{130}ning"), Ok(Intent::Training));
        assert_eq!(Service::parse("vanilla"), Ok(Service::Any));
        assert_eq!(Os::parse("AL2023"), Ok(Os::Amazonlinux));
        assert_eq!(
            Accelerator::parse("RTX-PRO-6000"),
            Ok(Accelerator::RtxPro6000)
        );
        assert_eq!(
            Service::parse(" Foo ").unwrap_err().query_text(),
            "[INVALID_REQUEST] invalid service parameter: [INVALID_REQUEST] invalid service type:  Foo "
        );
    }

    #[test]
    fn nodes_follow_our_strict_stance() {
        for ok in ["8", "+8", "08", " 8", "\t8", "\u{A0}8"] {
            assert_eq!(parse_nodes(ok), Ok(8), "{ok:?}");
        }
        assert_eq!(parse_nodes("-0"), Ok(0));
        assert_eq!(parse_nodes("2147483647"), Ok(MAX_NODES));
        for bad in [
            "8abc",
            "8\n",
            "8 ",
            "1.5",
            "1_000",
            "0x10",
            "abc",
            "+",
            "+-8",
            "--8",
            "\n8",
            "2147483648",
            "99999999999999999999",
            "８",
        ] {
            assert!(
                matches!(parse_nodes(bad), Err(CriteriaError::InvalidNodes { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_nodes("-1").unwrap_err().to_string(),
            "[INVALID_REQUEST] invalid nodes count: -1 (must be >= 0)"
        );
    }
}
