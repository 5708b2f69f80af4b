//! Instance attributes: what an annotator records about an instance beyond its mask and
//! category (`iscrowd`, `occluded`, free-form `key: value`). Checked here, for every
//! writer (API, import), so the database only ever holds a valid set.

use serde_json::{Map, Value};

use crate::{Result, StoreError};

/// At most this many attributes per instance.
pub const MAX_ATTRIBUTES: usize = 32;
/// Longest attribute name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest text value, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// Attributes with a meaning of their own, which must be booleans: COCO's `iscrowd`
/// and CVAT's `occluded`.
pub const BOOLEAN_ATTRIBUTES: [&str; 2] = ["iscrowd", "occluded"];

/// `value` as an attribute set: a JSON object of at most [`MAX_ATTRIBUTES`] names (1–64
/// characters, no control characters) with boolean, finite number or text (≤ 500
/// characters) values; `iscrowd` and `occluded` booleans (0/1 accepted). `null`
/// means none.
pub fn check_attributes(value: &Value) -> Result<Map<String, Value>> {
    let invalid = |m: String| StoreError::Invalid(format!("attributes: {m}"));
    let map = match value {
        Value::Null => return Ok(Map::new()),
        Value::Object(map) => map,
        other => {
            return Err(invalid(format!(
            "expected an object such as {{\"occluded\": true, \"colour\": \"red\"}}, got {other}"
        )))
        }
    };
    if map.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "{} given; at most {MAX_ATTRIBUTES} per instance",
            map.len()
        )));
    }
    let mut out = Map::new();
    for (name, v) in map {
        let chars = name.chars().count();
        if name.trim().is_empty() || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(invalid(format!(
                "name {name:?}: 1 to {MAX_NAME_CHARS} characters, no control characters"
            )));
        }
        let v = if BOOLEAN_ATTRIBUTES.contains(&name.as_str()) {
            match v {
                Value::Bool(_) => v.clone(),
                Value::Number(n) if n.as_f64() == Some(0.0) => Value::Bool(false),
                Value::Number(n) if n.as_f64() == Some(1.0) => Value::Bool(true),
                _ => return Err(invalid(format!("{name} must be true or false, got {v}"))),
            }
        } else {
            match v {
                Value::Bool(_) => v.clone(),
                Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => v.clone(),
                Value::String(s) if s.chars().count() <= MAX_TEXT_CHARS => v.clone(),
                Value::String(_) => {
                    return Err(invalid(format!(
                        "{name}: text is limited to {MAX_TEXT_CHARS} characters"
                    )))
                }
                _ => {
                    return Err(invalid(format!(
                        "{name}: a value is true/false, a number or text, got {v}"
                    )))
                }
            }
        };
        out.insert(name.clone(), v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_sets_are_kept_and_flags_normalised() {
        let got = check_attributes(&json!({"iscrowd": 1, "occluded": false, "colour": "red",
                                            "truncation": 0.25}))
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"iscrowd": true, "occluded": false, "colour": "red", "truncation": 0.25})
        );
        assert!(check_attributes(&Value::Null).unwrap().is_empty());
    }

    #[test]
    fn each_bad_set_names_its_problem() {
        let err = |v: Value| check_attributes(&v).unwrap_err().to_string();
        assert!(err(json!([1])).contains("expected an object"));
        assert!(err(json!({"iscrowd": "yes"})).contains("iscrowd must be true or false"));
        assert!(err(json!({"": 1})).contains("1 to 64 characters"));
        assert!(err(json!({"a\nb": 1})).contains("control"));
        assert!(err(json!({"k": {"nested": 1}})).contains("true/false, a number or text"));
        assert!(err(json!({"k": null})).contains("true/false, a number or text"));
        assert!(err(json!({"k": "x".repeat(501)})).contains("500 characters"));
        let many: Map<String, Value> = (0..33).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(err(Value::Object(many)).contains("at most 32"));
    }
}
