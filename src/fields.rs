//! Reading the fields of a parsed YAML or JSON mapping the same way everywhere: the
//! operator's runtime config (`runtime_config/`) and a kit's `local/study_runtime.yaml`
//! (`study_runtime.rs`). Each reader says only what is wrong; its caller says where, and
//! with which error (INVALID_CONFIG for the operator's file, INVALID_KIT for a kit's).

use serde_json::{Map, Value};

/// The first line of a parser's message (the rest is context we print ourselves).
pub(crate) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// The keys of `map` that are not in `allowed`, sorted.
pub(crate) fn unknown_keys<'a>(map: &'a Map<String, Value>, allowed: &[&str]) -> Vec<&'a str> {
    let mut unknown: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    unknown.sort_unstable();
    unknown
}

/// The value as a non-empty string; None for anything else.
pub(crate) fn non_empty_str(value: Option<&Value>) -> Option<&str> {
    match value {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn readers() {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(r#"{"b": 1, "a": "", "c": "x"}"#).unwrap();
        assert_eq!(super::unknown_keys(&map, &["c"]), ["a", "b"]);
        assert_eq!(super::non_empty_str(map.get("c")), Some("x"));
        assert_eq!(super::non_empty_str(map.get("a")), None);
        assert_eq!(super::non_empty_str(map.get("b")), None);
        assert_eq!(super::first_line("one\ntwo"), "one");
    }
}
