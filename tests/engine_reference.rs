//! Recipe engine against the reference v0.11.1 catalog: every enum combination of the
//! spec's golden file must come out byte for byte (recipe-engine spec §6–§7).

use aicrd::recipe::catalog::Catalog;
use aicrd::recipe::criteria::{Accelerator, Criteria, CriteriaKey, Intent, Os, Platform, Service};
use aicrd::recipe::resolve::resolve;
use std::path::Path;

fn reference() -> Catalog {
    Catalog::load(Path::new("../shared/reference/aicr-v0.11.1/recipes"))
        .expect("reference catalog loads")
}

#[test]
fn every_golden_class_matches_byte_for_byte() {
    let catalog = reference();
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("../shared/spec/recipe-engine-golden.json").unwrap(),
    )
    .unwrap();
    let classes = golden["classes"].as_array().unwrap();
    let index = golden["index"].as_object().unwrap();
    let mut checked = 0;
    for (combo, class) in index {
        let parts: Vec<&str> = combo.split('|').collect();
        let key = CriteriaKey {
            service: Service::parse(parts[0]).unwrap(),
            accelerator: Accelerator::parse(parts[1]).unwrap(),
            intent: Intent::parse(parts[2]).unwrap(),
            os: Os::parse(parts[3]).unwrap(),
            platform: Platform::parse(parts[4]).unwrap(),
        };
        let class = &classes[class.as_u64().unwrap() as usize - 1];
        let rep = &class["representative"];
        let rep_criteria = format!(
            "\"criteria\":{{\"service\":\"{}\",\"accelerator\":\"{}\",\"intent\":\"{}\",\"os\":\"{}\",\"platform\":\"{}\"}}",
            rep["service"].as_str().unwrap(),
            rep["accelerator"].as_str().unwrap(),
            rep["intent"].as_str().unwrap(),
            rep["os"].as_str().unwrap(),
            rep["platform"].as_str().unwrap()
        );
        let mine = format!(
            "\"criteria\":{{\"service\":\"{}\",\"accelerator\":\"{}\",\"intent\":\"{}\",\"os\":\"{}\",\"platform\":\"{}\"}}",
            parts[0], parts[1], parts[2], parts[3], parts[4]
        );
        let expected = class["body"]
            .as_str()
            .unwrap()
            .replace(&rep_criteria, &mine);
        let got = resolve(&catalog, &Criteria { key, nodes: 0 })
            .unwrap()
            .to_json(&key, 0, "dev");
        assert_eq!(
            String::from_utf8(got).unwrap(),
            expected,
            "combination {combo}"
        );
        checked += 1;
    }
    assert_eq!(checked, 1620);
}
