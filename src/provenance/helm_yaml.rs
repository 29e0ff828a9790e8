//! Chart metadata as Helm writes it into a `.prov`: `yaml.Marshal(chart.Metadata)` from
//! sigs.k8s.io/yaml, that is go-yaml v2 on the JSON form — keys sorted, empty fields left
//! out, lists not indented under their key, strings quoted only where YAML would read
//! them as something else. Helm ignores this part when it verifies; it is written the
//! way Helm writes it so a `.prov` of ours reads like one of Helm's.

use serde_json::{Map, Value};

/// The metadata block (ends with a newline), from Chart.yaml's fields.
pub(crate) fn chart_metadata(chart: &Map<String, Value>) -> String {
    let kept: Map<String, Value> = chart
        .iter()
        .filter(|(_, v)| !is_empty(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut out = String::new();
    write_map(&kept, 0, &mut out);
    out
}

/// Go's `omitempty`: zero values are left out.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

fn write_map(map: &Map<String, Value>, indent: usize, out: &mut String) {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for key in keys {
        let value = &map[key];
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar(key));
        out.push(':');
        write_value(value, indent, true, out);
    }
}

/// The value after `key:` (or after `- `): inline scalars, nested blocks on new lines.
fn write_value(value: &Value, indent: usize, after_key: bool, out: &mut String) {
    match value {
        Value::Object(o) if o.is_empty() => out.push_str(" {}\n"),
        Value::Array(a) if a.is_empty() => out.push_str(" []\n"),
        Value::Object(o) => {
            out.push('\n');
            write_map(o, indent + 2, out);
        }
        // go-yaml puts a list at its key's own indentation.
        Value::Array(a) => {
            out.push('\n');
            let dash_indent = if after_key { indent } else { indent + 2 };
            for item in a {
                out.push_str(&" ".repeat(dash_indent));
                out.push('-');
                match item {
                    Value::Object(o) if !o.is_empty() => {
                        // The first key follows the dash; the rest line up under it.
                        let mut block = String::new();
                        write_map(o, dash_indent + 2, &mut block);
                        out.push(' ');
                        out.push_str(block.trim_start());
                    }
                    other => write_value(other, dash_indent, false, out),
                }
            }
        }
        Value::String(s) if s.contains('\n') && block_keeps(s) => {
            let chomp = if s.ends_with('\n') { "" } else { "-" };
            out.push_str(&format!(" |{chomp}\n"));
            for line in s.trim_end_matches('\n').split('\n') {
                if !line.is_empty() {
                    out.push_str(&" ".repeat(indent + 2));
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar_value(other));
            out.push('\n');
        }
    }
}

/// Whether a literal block reads back as exactly `s`. It does not when a line ends in
/// blanks (the clear-signed text drops them), the first line starts with one (the block's
/// indentation would be misread), it ends in more than one line break, or it holds other
/// control characters; such strings are double-quoted instead.
fn block_keeps(s: &str) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    !body.ends_with('\n')
        && !s.starts_with([' ', '\t', '\n'])
        && body.split('\n').all(|line| !line.ends_with([' ', '\t']))
        && s.chars().all(|c| c == '\n' || !c.is_control())
}

fn scalar_value(value: &Value) -> String {
    match value {
        Value::String(s) => scalar(s),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A string as go-yaml v2 emits it: double-quoted when plain text would read as another
/// type, single-quoted when plain text is not allowed there, else plain.
pub(crate) fn scalar(s: &str) -> String {
    if s.is_empty() || reads_as_non_string(s) {
        return serde_json::to_string(s).expect("strings serialize");
    }
    if plain_allowed(s) {
        return s.to_string();
    }
    if s.chars().all(|c| !c.is_control()) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    serde_json::to_string(s).expect("strings serialize")
}

/// go-yaml v2's resolve table and number forms.
fn reads_as_non_string(s: &str) -> bool {
    const WORDS: [&str; 33] = [
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N",
        "no", "No", "NO", "off", "Off", "OFF", "true", "True", "TRUE", "false", "False", "FALSE",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "<<",
    ];
    if WORDS.contains(&s) || matches!(s, "-.inf" | "-.Inf" | "-.INF" | "+.inf") {
        return true;
    }
    let digits = s.trim_start_matches(['-', '+']).replace('_', "");
    let int = !digits.is_empty()
        && (digits.bytes().all(|b| b.is_ascii_digit())
            || digits
                .strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            || digits
                .strip_prefix("0b")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b == b'0' || b == b'1')));
    int || is_float(s)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && (!int.is_empty() || !frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

/// libyaml's test for a plain scalar in block context, for the characters charts use.
fn plain_allowed(s: &str) -> bool {
    let first = s.chars().next().expect("not empty");
    let indicator_start = "-?:,[]{}#&*!|>'\"%@`".contains(first);
    !indicator_start
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && s.chars().all(|c| !c.is_control() && c != '\u{feff}')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::chart_metadata;

    #[test]
    fn writes_what_helm_writes() {
        let chart = json!({
            "apiVersion": "v2",
            "name": "nvflare-client",
            "description": "NVIDIA FLARE client: site-1",
            "type": "application",
            "version": "1.0.0",
            "appVersion": "2.9",
            "keywords": ["nvflare", "federated-learning"],
            "maintainers": [],
            "annotations": {"nvflare/role": "client", "nvflare/release": "site-1", "x": "yes"},
        });
        let text = chart_metadata(chart.as_object().unwrap());
        assert_eq!(
            text,
            "annotations:\n  nvflare/release: site-1\n  nvflare/role: client\n  x: \"yes\"\n\
             apiVersion: v2\nappVersion: \"2.9\"\ndescription: 'NVIDIA FLARE client: site-1'\n\
             keywords:\n- nvflare\n- federated-learning\nname: nvflare-client\ntype: application\n\
             version: 1.0.0\n"
        );
    }

    /// What a block scalar cannot carry through a clear-signed text is double-quoted, and
    /// every form reads back as the string it was.
    #[test]
    fn multiline_strings_read_back() {
        for text in [
            "one\ntwo",
            "one\ntwo\n",
            "trailing  \nspaces",
            "  first line indented\nsecond",
            "\nstarts with a break",
            "two breaks at the end\n\n",
            "tab\tinside\nok",
            "- dash\n...\nfiles:\n  x.tgz: sha256:00",
        ] {
            let chart = json!({ "description": text });
            let yaml = chart_metadata(chart.as_object().unwrap());
            for line in yaml.lines() {
                assert!(!line.ends_with(' '), "{yaml:?}");
            }
            let back: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
            assert_eq!(back["description"], text, "{yaml}");
        }
    }

    #[test]
    fn list_of_maps_and_multiline() {
        let chart =
            json!({"maintainers": [{"name": "a", "email": "a@x"}], "description": "one\ntwo"});
        assert_eq!(
            chart_metadata(chart.as_object().unwrap()),
            "description: |-\n  one\n  two\nmaintainers:\n- email: a@x\n  name: a\n"
        );
    }
}
