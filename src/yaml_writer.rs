//! A small YAML writer for values.yaml and Chart.yaml: block style, and every string
//! double-quoted. Quoting every string keeps values like `yes`, `on`, `0755` or `1e3` strings
//! under Helm's YAML 1.1 reader, which would otherwise turn them into booleans and numbers.
//!
//! Strings come from kits and configs we do not control, so every character a YAML reader
//! could take as a line break (LF, CR, NEL, LS, PS) or refuse (C0, DEL, C1, BOM,
//! non-characters) is written as an escape: what Helm reads back is exactly the input.

use serde_json::Value;

/// Renders `value` for the position right after `key:`. Scalars and empty collections stay
/// on the key's line (` "x"`, ` {}`); other collections start on the next line, indented.
pub(crate) fn after_key(value: &Value, indent: usize) -> String {
    match value {
        Value::Object(map) if !map.is_empty() => format!("\n{}", block(value, indent)),
        Value::Array(items) if !items.is_empty() => format!("\n{}", block(value, indent)),
        other => format!(" {}", scalar(other)),
    }
}

/// A block of YAML lines (no trailing newline), every line indented by `indent` spaces.
pub fn block(value: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => map
            .iter()
            .map(|(key, item)| format!("{pad}{}:{}", key_text(key), after_key(item, indent + 2)))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                // `- key: value` with the rest of the mapping aligned under the first key.
                Value::Object(map) if !map.is_empty() => {
                    let inner = block(item, indent + 2);
                    format!("{pad}- {}", &inner[indent + 2..])
                }
                Value::Array(list) if !list.is_empty() => {
                    format!("{pad}-\n{}", block(item, indent + 2))
                }
                other => format!("{pad}- {}", scalar(other)),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => format!("{pad}{}", scalar(other)),
    }
}

/// A scalar or empty collection in flow style; strings double-quoted (see [`string`]).
pub(crate) fn scalar(value: &Value) -> String {
    match value {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        Value::String(s) => string(s),
        other => other.to_string(),
    }
}

/// A YAML double-quoted scalar that reads back as exactly `text`, on one line.
pub fn string(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control()
                || matches!(
                    c,
                    '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                ) =>
            {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Keys stay bare only when no YAML reader could take them for anything but a string.
fn key_text(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && !is_yaml11_keyword(key);
    if plain {
        key.to_string()
    } else {
        string(key)
    }
}

fn is_yaml11_keyword(word: &str) -> bool {
    const WORDS: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", "infinity",
    ];
    WORDS.contains(&word.to_ascii_lowercase().trim_start_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_blocks() {
        let v = json!({"requests": {"cpu": "2", "memory": "8Gi"}, "on": [1, {"a": true, "b": null}], "e": {}});
        let expected = "\n  requests:\n    cpu: \"2\"\n    memory: \"8Gi\"\n  \"on\":\n    - 1\n    - a: true\n      b: null\n  e: {}";
        assert_eq!(after_key(&v, 2), expected);
    }

    #[test]
    fn every_line_break_and_control_is_escaped() {
        let hostile = "site-1\u{2028}evil: true\u{2029}#\u{85}x\n---\r\t\u{7f}\u{9b}\u{feff}\"\\";
        let written = string(hostile);
        assert!(!written.contains(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}', '\u{7f}']));
        let yaml = format!("key: {written}\n");
        let read: Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(read, serde_json::json!({"key": hostile}));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, failure_persistence: None, ..Default::default() })]
        /// Any string at all, as a value and as a key, reads back as itself.
        #[test]
        fn any_string_reads_back_exactly(text in "\\PC*|[\\x00-\\x{a0}\\x{2028}\\x{2029}\\x{feff}:#\\-{}*&!%@ ]{0,24}") {
            let value = serde_json::json!({"key": text.clone(), text.clone(): "v"});
            let yaml = block(&value, 0) + "\n";
            let read: Value = serde_saphyr::from_str(&yaml).unwrap();
            proptest::prop_assert_eq!(read, value);
            proptest::prop_assert_eq!(yaml.lines().count(), 2);
        }
    }

    #[test]
    fn scalars_stay_inline() {
        assert_eq!(after_key(&json!("yes"), 2), " \"yes\"");
        assert_eq!(after_key(&json!([]), 2), " []");
        assert_eq!(after_key(&Value::Null, 2), " null");
    }
}
