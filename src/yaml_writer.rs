//! A small YAML writer for values.yaml and Chart.yaml: block style, and every string double-quoted with
//! JSON escapes. Quoting every string keeps values like `yes`, `on`, `0755` or `1e3` strings
//! under Helm's YAML 1.1 reader, which would otherwise turn them into booleans and numbers.

use serde_json::Value;

/// Renders `value` for the position right after `key:`. Scalars and empty collections stay
/// on the key's line (` "x"`, ` {}`); other collections start on the next line, indented.
pub fn after_key(value: &Value, indent: usize) -> String {
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

/// A scalar or empty collection in flow style; strings as JSON strings (valid YAML).
pub fn scalar(value: &Value) -> String {
    match value {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
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
        Value::String(key.to_string()).to_string()
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
    fn scalars_stay_inline() {
        assert_eq!(after_key(&json!("yes"), 2), " \"yes\"");
        assert_eq!(after_key(&json!([]), 2), " []");
        assert_eq!(after_key(&Value::Null, 2), " null");
    }
}
