//! What an audit entry records of a change.

use serde_json::{Map, Value};

/// The `changes` of an entry about an edit: `{field: [before, after]}` for every field whose
/// value differs, and no others (an entry lists what changed, not what stayed). Fields are
/// compared as JSON, as the entry shows them.
pub fn diff<'a>(fields: impl IntoIterator<Item = (&'a str, Value, Value)>) -> Value {
    let mut out = Map::new();
    for (name, before, after) in fields {
        if before != after {
            out.insert(name.to_string(), Value::Array(vec![before, after]));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn only_changed_fields_are_listed() {
        let d = diff([
            ("status", json!("assigned"), json!("hold")),
            ("customer_id", json!("c1"), json!("c1")),
            ("hold_until", Value::Null, json!("2026-01-01T00:00:00Z")),
            ("destination", Value::Null, Value::Null),
        ]);
        assert_eq!(
            d,
            json!({"status": ["assigned", "hold"], "hold_until": [null, "2026-01-01T00:00:00Z"]})
        );
        assert_eq!(diff([("name", json!("a"), json!("a"))]), json!({}));
    }

    proptest! {
        /// Each field is listed exactly when its two values differ, with both values.
        #[test]
        fn a_field_is_listed_iff_it_changed(
            pairs in proptest::collection::btree_map("[a-z]{1,8}", (0u8..3, 0u8..3), 0..8),
        ) {
            let d = diff(pairs.iter().map(|(k, (a, b))| (k.as_str(), json!(a), json!(b))));
            let m = d.as_object().unwrap();
            for (k, (a, b)) in &pairs {
                let want = (a != b).then(|| json!([a, b]));
                prop_assert_eq!(m.get(k.as_str()), want.as_ref());
            }
            prop_assert_eq!(m.len(), pairs.values().filter(|(a, b)| a != b).count());
        }
    }
}
