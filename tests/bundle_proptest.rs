//! Property tests: the bundle's input parsers never panic, and the YAML writer's
//! quoting always reads back as the same string.

use aicrd::bundle::request::{Options, parse_nodes, parse_selector, parse_set, parse_toleration, parse_workload_gate};
use aicrd::bundle::template::Template;
use aicrd::bundle::values::typed_value;
use aicrd::bundle::yaml::value_to_string;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

proptest! {
    #[test]
    fn parsers_never_panic(s in "\\PC*") {
        let _ = parse_set(&s);
        let _ = parse_selector(&s, "m", &mut BTreeMap::new());
        let _ = parse_toleration(&s, "m");
        let _ = parse_workload_gate(&s);
        let _ = parse_nodes(&s);
        let _ = typed_value(&s);
        let _ = Options::from_query(Some(&s));
    }

    #[test]
    fn structured_parameters_never_panic(
        key in "[a-z:=./%+-]{0,12}", value in "[A-Za-z0-9:=./%+ -]{0,16}",
    ) {
        for name in ["set", "dynamic", "system-node-selector", "accelerated-node-toleration", "workload-gate", "nodes", "deployer", "bundlers"] {
            let _ = Options::from_query(Some(&format!("{name}={key}{value}&{name}={value}")));
        }
    }

    #[test]
    fn toleration_parse_is_total_and_consistent(key in "[a-z./=]{0,8}", effect in "[A-Za-z]{0,16}") {
        let raw = format!("{key}:{effect}");
        match parse_toleration(&raw, "m") {
            Ok(t) => {
                prop_assert!(matches!(t.effect.as_str(), "NoSchedule" | "PreferNoSchedule" | "NoExecute"));
                prop_assert_eq!(t.operator == "Equal", !t.value.is_empty());
            }
            Err(e) => prop_assert!(e.error.unwrap().contains("invalid taint effect")),
        }
    }

    #[test]
    fn yaml_strings_round_trip(s in "[a-zA-Z0-9 :#'\"\\-.,\\[\\]{}&*!|>%@`?\\n\\t~_+=/]{0,14}") {
        // `s == "k"` would make both entries one key: nothing to round-trip.
        prop_assume!(s != "k");
        let text = value_to_string(&json!({ "k": s, s.clone(): 1 }));
        let back: Value = serde_saphyr::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text:?}")))?;
        prop_assert_eq!(&back["k"], &Value::String(s.clone()), "{:?}", text);
        prop_assert!(back.get(&s).is_some(), "{:?}", text);
    }

    #[test]
    fn templates_never_panic(t in "[a-z{}$.() |\"-]{0,30}") {
        if let Ok(tpl) = Template::parse("p", &t) {
            let _ = tpl.render(&json!({"a": {"b": 1}}), None);
        }
    }
}
