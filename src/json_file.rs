//! Reading kit JSON files, and writing them back byte-for-byte as Python's
//! `json.dumps(data, indent=4)` does: 4-space indent, the input's key order, `", "`-free
//! separators, non-ASCII escaped as `\uXXXX` (`ensure_ascii`), and a trailing newline.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Loads a JSON object from a kit file; every failure is `INVALID_KIT`, as in the seed.
pub fn load_object(path: &Path, label: &str) -> Result<Map<String, Value>> {
    if !path.is_file() {
        return Err(Error::invalid_kit(
            format!("Missing {label}: {}", path.display()),
            "Provide a valid startup kit.",
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|err| {
        Error::invalid_kit(
            format!("Failed to parse {label}: {err}"),
            "Fix the startup kit JSON.",
        )
    })?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid_kit(
            format!("{label} must contain a JSON object."),
            "Fix the startup kit JSON.",
        )),
        Err(err) => Err(Error::invalid_kit(
            format!("Failed to parse {label}: {err}"),
            "Fix the startup kit JSON.",
        )),
    }
}

/// Writes `value` as Python's `json.dumps(value, indent=4) + "\n"` would.
pub fn write_pretty(path: &Path, value: &Map<String, Value>) -> Result<()> {
    let mut text = to_python_json(&Value::Object(value.clone()));
    text.push('\n');
    std::fs::write(path, text).map_err(|err| Error::prepare_io("write", path, err))
}

pub fn to_python_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out
}

fn write_value(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&python_number(n)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                indent(out, depth + 1);
                write_value(out, item, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                indent(out, depth + 1);
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    out.extend(std::iter::repeat_n("    ", depth));
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's float repr writes `1e+16` and `1e-05` where Rust writes `1e16` and `1e-5`.
fn python_number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    if !(n.is_f64()) {
        return text;
    }
    match text.split_once(['e', 'E']) {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp.trim_start_matches('+')),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_json_dumps_indent_4() {
        let value: Value = serde_json::from_str(
            r#"{"b": 1, "a": [], "c": {}, "d": [1, {"x": null}], "e": "é\u2028\"", "f": 1.5, "g": 1e20}"#,
        )
        .unwrap();
        // Output of: python3 -c 'import json; print(json.dumps(..., indent=4))'
        let expected = "{\n    \"b\": 1,\n    \"a\": [],\n    \"c\": {},\n    \"d\": [\n        1,\n        {\n            \"x\": null\n        }\n    ],\n    \"e\": \"\\u00e9\\u2028\\\"\",\n    \"f\": 1.5,\n    \"g\": 1e+20\n}";
        assert_eq!(to_python_json(&value), expected);
    }

    #[test]
    fn escapes_astral_characters_as_surrogate_pairs() {
        assert_eq!(
            to_python_json(&Value::String("😀".into())),
            "\"\\ud83d\\ude00\""
        );
    }
}
