//! Values files the operator gives Helm (`-f`): read, merged over the chart's values as Helm
//! merges them, and checked against the chart's schema for keys the chart does not have, so
//! a mistyped key (`nodeSelecter`, `tolleration`) is named before anything is installed.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Helm reads values files whole; anything larger than this is not a values file.
const MAX_VALUES_FILE: u64 = 4 * 1024 * 1024;

/// One `-f` file, parsed.
#[derive(Debug, Clone)]
pub struct ValuesFile {
    pub path: PathBuf,
    pub values: Map<String, Value>,
}

/// Reads `-f` files in order (a missing or empty file is an error, as in Helm).
pub fn read(paths: &[PathBuf]) -> Result<Vec<ValuesFile>> {
    paths.iter().map(|p| read_one(p)).collect()
}

fn read_one(path: &Path) -> Result<ValuesFile> {
    let bad = |why: String| {
        Error::invalid_args(
            format!("Values file {}: {why}", path.display()),
            "Give a YAML file of chart values, as for `helm install -f`.",
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    if meta.len() > MAX_VALUES_FILE {
        return Err(bad(format!("larger than {MAX_VALUES_FILE} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    if text.trim().is_empty() {
        return Ok(ValuesFile {
            path: path.to_path_buf(),
            values: Map::new(),
        });
    }
    let value: Value = serde_saphyr::from_str(&text).map_err(|e| bad(format!("not YAML: {e}")))?;
    match value {
        Value::Object(values) => Ok(ValuesFile {
            path: path.to_path_buf(),
            values,
        }),
        Value::Null => Ok(ValuesFile {
            path: path.to_path_buf(),
            values: Map::new(),
        }),
        _ => Err(bad("its top level is not a mapping of values".into())),
    }
}

/// `over` merged onto `base` as Helm coalesces values: mappings merge key by key, anything
/// else replaces, and `null` removes the key.
pub fn merge(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (key, value) in over {
        match (base.get_mut(key), value) {
            (_, Value::Null) => {
                base.remove(key);
            }
            (Some(Value::Object(b)), Value::Object(o)) => merge(b, o),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Every key of `values` the schema does not allow, as dotted paths (`nodeSelecter`,
/// `image.tagg`), each with the nearest allowed sibling when one is close.
pub(crate) fn unknown_keys(
    values: &Map<String, Value>,
    schema: &Value,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    walk(values, schema, "", &mut out);
    out
}

fn walk(
    values: &Map<String, Value>,
    schema: &Value,
    prefix: &str,
    out: &mut Vec<(String, Option<String>)>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, value) in values {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let sub = properties
            .and_then(|p| p.get(key))
            .or_else(|| schema.get("additionalProperties").filter(|a| a.is_object()));
        match sub {
            Some(sub) => {
                if let Value::Object(inner) = value {
                    walk(inner, sub, &path, out);
                }
            }
            None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                let near = properties.and_then(|p| nearest(key, p.keys()));
                out.push((path, near));
            }
            None => {}
        }
    }
}

/// The candidate within edit distance 2 (or a case-insensitive match), if one is.
fn nearest<'a>(key: &str, candidates: impl Iterator<Item = &'a String>) -> Option<String> {
    candidates
        .map(|c| (distance(&key.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn merge_is_helms_coalesce() {
        let mut base =
            obj(json!({"image": {"repository": "r", "tag": "1"}, "port": 1, "keep": true}));
        merge(
            &mut base,
            &obj(json!({"image": {"tag": "2"}, "port": null, "new": [1]})),
        );
        assert_eq!(
            Value::Object(base),
            json!({"image": {"repository": "r", "tag": "2"}, "keep": true, "new": [1]})
        );
    }

    #[test]
    fn unknown_keys_follow_the_schema_and_suggest_the_near_one() {
        for role in [crate::kit::Role::Server, crate::kit::Role::Client] {
            let schema = crate::chart::values_schema(role);
            let values = obj(json!({
                "nodeSelecter": {"gpu": "true"},
                "nodeSelector": {"anything": "goes"},
                "image": {"tagg": "x", "tag": "y"},
                "affinity": {"whatever": {"kubernetes": "defines"}},
                "global": {"shared": 1},
                "tolleration": [],
            }));
            let unknown = unknown_keys(&values, &schema);
            assert_eq!(
                unknown,
                [
                    ("nodeSelecter".to_string(), Some("nodeSelector".to_string())),
                    ("image.tagg".to_string(), Some("tag".to_string())),
                    ("tolleration".to_string(), Some("tolerations".to_string())),
                ]
            );
        }
    }
}
