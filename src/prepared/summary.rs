//! What a prepared kit is, in a few hundred bytes that are safe to store in a Helm
//! release: the NVFlare layout, the parent image, which CA and certificate, the internal
//! `comm_config`, and a fingerprint of every staged file (contents never). `deploy` and
//! `upgrade` record it in the release's values; `upgrade` compares the recorded one with
//! the new kit's, so an operator sees what a reprovisioned kit changes before it runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::PreparedKit;
use crate::error::Result;

/// The value it is recorded under, in the release's values.
pub const VALUE: &str = "global.helmNvflareKit";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KitSummary {
    /// `2.8` or `2.9`.
    pub nvflare: String,
    /// The parent image: `repository:tag@digest`.
    pub image: String,
    /// 16 hex digits of the sha256 of the root CA certificate (DER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// The participant's own certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
    /// `local/comm_config.json`: hosts and ports, no secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm_config: Option<Value>,
    /// `startup/...` and `local/...`: 16 hex digits of each file's sha256.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub serial: String,
    /// `YYYY-MM-DD`.
    pub not_after: String,
}

fn short(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn first_cert_der(bytes: &[u8]) -> Option<Vec<u8>> {
    let pem = x509_parser::pem::Pem::iter_from_buffer(bytes)
        .next()?
        .ok()?;
    Some(pem.contents)
}

impl KitSummary {
    pub fn of(kit: &PreparedKit) -> Result<KitSummary> {
        let mut files = BTreeMap::new();
        for folder in ["startup", "local"] {
            let root = kit.dir.join(folder);
            for rel in
                crate::fs_tree::walk_files(&root).map_err(|e| super::kit_io("read", &root, e))?
            {
                let path = root.join(&rel);
                let bytes = std::fs::read(&path).map_err(|e| super::kit_io("read", &path, e))?;
                files.insert(format!("{folder}/{rel}"), short(&bytes));
            }
        }
        let startup = kit.dir.join("startup");
        let ca = std::fs::read(startup.join("rootCA.pem"))
            .ok()
            .and_then(|b| first_cert_der(&b))
            .map(|der| short(&der));
        let own = if kit.is_server() {
            "server.crt"
        } else {
            "client.crt"
        };
        let certificate = std::fs::read(startup.join(own)).ok().and_then(|bytes| {
            let pem = x509_parser::pem::Pem::iter_from_buffer(&bytes)
                .next()?
                .ok()?;
            let cert = pem.parse_x509().ok()?;
            Some(Certificate {
                serial: cert.raw_serial_as_string().replace(':', ""),
                not_after: crate::provenance::keyring::date(
                    u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0),
                ),
            })
        });
        let comm_config = std::fs::read(kit.dir.join("local").join(crate::kit::COMM_CONFIG_JSON))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let image = &kit.values.image;
        let mut reference = image.repository.clone();
        if !image.tag.is_empty() {
            reference.push(':');
            reference.push_str(&image.tag);
        }
        if !image.digest.is_empty() {
            reference.push('@');
            reference.push_str(&image.digest);
        }
        Ok(KitSummary {
            nvflare: kit.nvflare_version.as_str().to_string(),
            image: reference,
            ca,
            certificate,
            comm_config,
            files,
        })
    }

    /// From a release's values (what Helm returns is untrusted: a summary that does not
    /// parse is no summary).
    pub(crate) fn from_values(values: &Value) -> Option<KitSummary> {
        serde_json::from_value(values["global"]["helmNvflareKit"].clone()).ok()
    }
}

/// One line of what an upgrade changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `certificates`, `image`, `layout`, `comm_config`, `file` or `value`.
    pub what: &'static str,
    pub detail: String,
}

fn change(what: &'static str, detail: String) -> Change {
    Change { what, detail }
}

/// What moving from `old` (None: not recorded, the release was not installed by deploy)
/// to `new` changes.
pub fn diff(old: Option<&KitSummary>, new: &KitSummary) -> Vec<Change> {
    let esc = crate::terminal::escape;
    let Some(old) = old else {
        return vec![change(
            "file",
            format!(
                "the release records no kit (not installed by helm nvflare deploy): all {} staged files are replaced",
                new.files.len()
            ),
        )];
    };
    let mut changes = Vec::new();
    if old.nvflare != new.nvflare {
        changes.push(change(
            "layout",
            format!("NVFlare {} -> {}", esc(&old.nvflare), new.nvflare),
        ));
    }
    if old.image != new.image {
        changes.push(change(
            "image",
            format!("{} -> {}", esc(&old.image), esc(&new.image)),
        ));
    }
    let ca = match (&old.ca, &new.ca) {
        (a, b) if a == b => format!("same CA ({})", b.as_deref().unwrap_or("none")),
        (a, b) => format!(
            "new CA ({} -> {})",
            esc(a.as_deref().unwrap_or("none")),
            b.as_deref().unwrap_or("none")
        ),
    };
    match (&old.certificate, &new.certificate) {
        (a, b) if a == b && old.ca == new.ca => {}
        (a, b) => {
            let show = |c: &Option<Certificate>| {
                c.as_ref().map_or("none".to_string(), |c| {
                    format!("serial {}, expires {}", esc(&c.serial), esc(&c.not_after))
                })
            };
            changes.push(change(
                "certificates",
                format!("{ca}; certificate {} -> {}", show(a), show(b)),
            ));
        }
    }
    if old.comm_config != new.comm_config {
        let mut lines = Vec::new();
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        flatten("", old.comm_config.as_ref().unwrap_or(&Value::Null), &mut a);
        flatten("", new.comm_config.as_ref().unwrap_or(&Value::Null), &mut b);
        for (key, from, to) in pairs(&a, &b) {
            lines.push(format!("{}: {} -> {}", esc(&key), esc(&from), esc(&to)));
        }
        changes.push(change("comm_config", lines.join("; ")));
    }
    for (path, from, to) in pairs(&old.files, &new.files) {
        changes.push(change("file", format!("{} {from} -> {to}", esc(&path))));
    }
    changes
}

/// Keys whose values differ, with `-` for absent.
fn pairs(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> Vec<(String, String, String)> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let get =
                |m: &BTreeMap<String, String>| m.get(k).cloned().unwrap_or_else(|| "-".into());
            (k.clone(), get(a), get(b))
        })
        .collect()
}

/// `a.b.c` -> the value as JSON, for every leaf.
pub fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        // An empty map is no value: `{}` and absent read the same, as Helm merges them.
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Null if prefix.is_empty() => {}
        leaf => {
            out.insert(prefix.to_string(), leaf.to_string());
        }
    }
}

/// What changes in the chart values between the deployed release (`helm get values
/// --all`) and the new kit's merged values; our own bookkeeping values are left out.
pub(crate) fn values_diff(deployed: &Value, new: &Value) -> Vec<Change> {
    let ours = |k: &String| {
        k.starts_with("global.helmNvflare") || k.starts_with("podAnnotations.helm-nvflare/")
    };
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", deployed, &mut a);
    flatten("", new, &mut b);
    a.retain(|k, _| !ours(k));
    b.retain(|k, _| !ours(k));
    pairs(&a, &b)
        .into_iter()
        .map(|(k, from, to)| {
            let esc = crate::terminal::escape;
            change(
                "value",
                format!("{}: {} -> {}", esc(&k), esc(&from), esc(&to)),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> KitSummary {
        KitSummary {
            nvflare: "2.8".into(),
            image: "r/nvflare:2.8.3".into(),
            ca: Some("aa".into()),
            certificate: Some(Certificate {
                serial: "01".into(),
                not_after: "2027-01-01".into(),
            }),
            comm_config: Some(serde_json::json!({"internal": {"resources": {"port": 8102}}})),
            files: [("startup/server.crt".to_string(), "11".to_string())].into(),
        }
    }

    #[test]
    fn a_reprovisioned_kit_with_a_new_image_and_layout() {
        let old = summary();
        let mut new = summary();
        new.nvflare = "2.9".into();
        new.image = "r/nvflare:2.9.0".into();
        new.certificate = Some(Certificate {
            serial: "02".into(),
            not_after: "2028-01-01".into(),
        });
        new.files.insert("startup/server.crt".into(), "22".into());
        new.files.insert("startup/job_ca.crt".into(), "33".into());
        new.comm_config = Some(serde_json::json!({"internal": {"resources": {"port": 8103}}}));
        let changes: Vec<String> = diff(Some(&old), &new)
            .iter()
            .map(|c| format!("{}: {}", c.what, c.detail))
            .collect();
        assert_eq!(
            changes,
            [
                "layout: NVFlare 2.8 -> 2.9",
                "image: r/nvflare:2.8.3 -> r/nvflare:2.9.0",
                "certificates: same CA (aa); certificate serial 01, expires 2027-01-01 -> serial 02, expires 2028-01-01",
                "comm_config: internal.resources.port: 8102 -> 8103",
                "file: startup/job_ca.crt - -> 33",
                "file: startup/server.crt 11 -> 22",
            ]
        );
        assert!(diff(Some(&old), &old).is_empty());
    }

    #[test]
    fn values_diff_leaves_out_bookkeeping() {
        let a = serde_json::json!({"image": {"tag": "1"}, "global": {"helmNvflareDeploy": "x"}});
        let b = serde_json::json!({"image": {"tag": "2"}, "global": {"helmNvflareDeploy": "y"}, "podAnnotations": {"helm-nvflare/staged": "z"}, "tolerations": {}});
        let d = values_diff(&a, &b);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].detail, "image.tag: \"1\" -> \"2\"");
    }
}
