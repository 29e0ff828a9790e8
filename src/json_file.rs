//! Reading kit JSON files, and writing them back byte-for-byte as Python's
//! `json.dumps(data, indent=4)` does: 4-space indent, the input's key order, `", "`-free
//! separators, non-ASCII escaped as `\uXXXX` (`ensure_ascii`), and a trailing newline.

use std::io;
use std::path::Path;

use serde_json::ser::{CharEscape, Formatter, PrettyFormatter};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Loads a JSON object from a kit file; every failure is `INVALID_KIT`, as in the seed.
pub(crate) fn load_object(path: &Path, label: &str) -> Result<Map<String, Value>> {
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
pub(crate) fn write_pretty(path: &Path, value: &Map<String, Value>) -> Result<()> {
    let mut text = to_python_json(&Value::Object(value.clone()));
    text.push('\n');
    std::fs::write(path, text).map_err(|err| Error::prepare_io("write", path, err))
}

pub(crate) fn to_python_json(value: &Value) -> String {
    let mut out = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, PythonFormatter::default());
    serde::Serialize::serialize(value, &mut serializer).expect("JSON values serialize");
    String::from_utf8(out).expect("the formatter writes ASCII")
}

/// Python's `json.dumps(indent=4)`: the pretty layout of serde_json's `PrettyFormatter`
/// (which is Python's), `ensure_ascii` string escapes, and numbers as Python prints the
/// `int` or `float` it parsed them into. Numbers arrive as their input text
/// (`arbitrary_precision`), so integers of any size survive.
pub struct PythonFormatter<'a> {
    pretty: PrettyFormatter<'a>,
}

impl Default for PythonFormatter<'_> {
    fn default() -> Self {
        PythonFormatter {
            pretty: PrettyFormatter::with_indent(b"    "),
        }
    }
}

impl Formatter for PythonFormatter<'_> {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(python_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }

    fn write_number_str<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        value: &str,
    ) -> io::Result<()> {
        writer.write_all(python_number(value).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // ensure_ascii: everything outside space..~ as \uXXXX, astral as a surrogate pair.
        for c in fragment.chars() {
            if (' '..='~').contains(&c) {
                writer.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let text = match escape {
            CharEscape::Quote => "\\\"".to_string(),
            CharEscape::ReverseSolidus => "\\\\".to_string(),
            CharEscape::Solidus => "/".to_string(),
            CharEscape::Backspace => "\\b".to_string(),
            CharEscape::FormFeed => "\\f".to_string(),
            CharEscape::LineFeed => "\\n".to_string(),
            CharEscape::CarriageReturn => "\\r".to_string(),
            CharEscape::Tab => "\\t".to_string(),
            CharEscape::AsciiControl(byte) => format!("\\u{byte:04x}"),
        };
        writer.write_all(text.as_bytes())
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pretty.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.pretty.end_object_value(w)
    }
}

/// A JSON number's text as Python prints what `json.loads` made of it: an `int` keeps its
/// digits (any size; `-0` is `0`), anything with a fraction or exponent is a `float`.
fn python_number(text: &str) -> String {
    if text.contains(['.', 'e', 'E']) {
        return python_float(text.parse().unwrap_or(f64::NAN));
    }
    let digits = text.trim_start_matches('-').trim_start_matches('0');
    match (digits.is_empty(), text.starts_with('-')) {
        (true, _) => "0".into(),
        (false, true) => format!("-{digits}"),
        (false, false) => digits.into(),
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in positional notation
/// when the exponent is from -5 to 15 (with `.0` when whole), else as `d.ddde±XX`;
/// `json.dumps` writes infinities as `Infinity`.
pub(crate) fn python_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: `-1.234e-5`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("{:e} has an exponent");
    let exponent: i32 = exponent.parse().expect("an integer exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..16).contains(&exponent) {
        let (head, tail) = digits.split_at(1);
        let fraction = if tail.is_empty() {
            String::new()
        } else {
            format!(".{tail}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{head}{fraction}e{exp_sign}{:02}", exponent.abs());
    }
    let point = exponent + 1;
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{text}")
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

    /// `tests/fixtures/python-json/expected.json` is Python's output for `input.json`.
    #[test]
    fn matches_python_golden_output() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/python-json/");
        let input = std::fs::read_to_string(format!("{dir}input.json")).unwrap();
        let expected = std::fs::read_to_string(format!("{dir}expected.json")).unwrap();
        let value: Value = serde_json::from_str(&input).unwrap();
        assert_eq!(to_python_json(&value) + "\n", expected);
    }

    #[test]
    fn floats_as_python_repr() {
        for (value, python) in [
            (1e-5, "1e-05"),
            (0.00001234, "1.234e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(python_float(value), python);
        }
    }

    #[test]
    fn escapes_astral_characters_as_surrogate_pairs() {
        assert_eq!(
            to_python_json(&Value::String("😀".into())),
            "\"\\ud83d\\ude00\""
        );
    }
}
