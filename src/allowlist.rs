//! Criteria allowlists (http-api spec §12, stance Q15): `AICR_ALLOWED_ACCELERATORS`,
//! `_SERVICES`, `_INTENTS`, `_OS`. Entries are trimmed and normalised like request
//! values (case, aliases); `any` entries are dropped; an empty list allows everything.
//! Checked after the request's criteria are normalised, in the order accelerator,
//! service, intent, OS; a request value of `any` always passes.

use crate::error::ApiError;
use crate::recipe::criteria::{Accelerator, CriteriaError, CriteriaKey, Intent, Os, Service};
use serde_json::Value;

/// Configured allowlists; all empty = no restriction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlists {
    /// Allowed accelerators.
    pub accelerators: Vec<Accelerator>,
    /// Allowed services.
    pub services: Vec<Service>,
    /// Allowed intents.
    pub intents: Vec<Intent>,
    /// Allowed operating systems.
    pub os: Vec<Os>,
}

fn parse_list<T: PartialEq + Copy + Default>(
    var: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, CriteriaError>,
) -> Result<Vec<T>, String> {
    let mut out = Vec::new();
    for entry in raw.unwrap_or("").split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let value = parse(entry).map_err(|e| format!("invalid {var}: {entry:?}: {e}"))?;
        if value != T::default() {
            out.push(value);
        }
    }
    Ok(out)
}

fn check<T: PartialEq + Copy + Default + std::fmt::Display>(
    list: &[T],
    value: T,
    message: &'static str,
) -> Result<(), ApiError> {
    if list.is_empty() || value == T::default() || list.contains(&value) {
        return Ok(());
    }
    let allowed: Vec<Value> = list.iter().map(|v| Value::from(v.to_string())).collect();
    Err(ApiError::invalid_bare(message).detail("allowed", allowed).detail("requested", value.to_string()))
}

impl Allowlists {
    /// Parses the four variables' raw values; an invalid entry names the variable.
    pub fn parse(
        accelerators: Option<&str>,
        services: Option<&str>,
        intents: Option<&str>,
        os: Option<&str>,
    ) -> Result<Self, String> {
        Ok(Allowlists {
            accelerators: parse_list("AICR_ALLOWED_ACCELERATORS", accelerators, Accelerator::parse)?,
            services: parse_list("AICR_ALLOWED_SERVICES", services, Service::parse)?,
            intents: parse_list("AICR_ALLOWED_INTENTS", intents, Intent::parse)?,
            os: parse_list("AICR_ALLOWED_OS", os, Os::parse)?,
        })
    }

    /// Whether any dimension is restricted.
    pub fn is_active(&self) -> bool {
        !(self.accelerators.is_empty() && self.services.is_empty() && self.intents.is_empty() && self.os.is_empty())
    }

    /// Checks normalised criteria; the first violation is a 400.
    pub fn check(&self, key: &CriteriaKey) -> Result<(), ApiError> {
        if !self.is_active() {
            return Ok(());
        }
        check(&self.accelerators, key.accelerator, "accelerator type not allowed")?;
        check(&self.services, key.service, "service type not allowed")?;
        check(&self.intents, key.intent, "intent type not allowed")?;
        check(&self.os, key.os, "OS type not allowed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_normalises_and_names_the_variable() {
        let a = Allowlists::parse(Some("h100, L40,any,,"), Some("self-managed"), None, Some("AL2")).unwrap();
        assert_eq!(a.accelerators, vec![Accelerator::H100, Accelerator::L40]);
        assert!(a.services.is_empty());
        assert_eq!(a.os, vec![Os::Amazonlinux]);
        let err = Allowlists::parse(Some("h100,foo"), None, None, None).unwrap_err();
        assert!(err.contains("AICR_ALLOWED_ACCELERATORS") && err.contains("foo"), "{err}");
    }

    #[test]
    fn checks_in_order_and_lets_any_through() {
        let a = Allowlists::parse(Some("h100"), Some("eks"), None, None).unwrap();
        let mut key = CriteriaKey::default();
        assert!(a.check(&key).is_ok());
        key.service = Service::Gke;
        key.accelerator = Accelerator::Gb200;
        let err = a.check(&key).unwrap_err();
        assert_eq!(err.message, "accelerator type not allowed");
        assert_eq!(err.details["allowed"], serde_json::json!(["h100"]));
        assert_eq!(err.details["requested"], "gb200");
        key.accelerator = Accelerator::H100;
        assert_eq!(a.check(&key).unwrap_err().message, "service type not allowed");
    }
}
