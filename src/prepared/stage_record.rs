//! What was staged, recorded in the prepared kit (`.helm-nvflare-stage.json`) before the
//! cluster is touched, so `unstage` removes exactly that, and `prepare` can refuse to
//! replace a kit that is still staged.
//!
//! The record decides what `unstage` deletes, so it is trusted only when it is provably
//! this tool's own: every field is checked on load (names valid for their kind, nothing
//! that could be read as a flag), and it is bound to the folder it was written in by that
//! folder's path and inode. A record that arrived inside a kit, or was copied along with
//! a folder, does not match and is refused.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Result};
use crate::names;

/// How a kit is staged: onto the workspace PVC, or as a ConfigMap and a Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Pvc,
    Configmap,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Pvc => "pvc",
            Method::Configmap => "configmap",
        }
    }
}

pub const RECORD_FILE: &str = ".helm-nvflare-stage.json";
/// A record is a few hundred bytes; anything far larger is not ours.
const MAX_RECORD_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub method: Method,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// [`super::fingerprint`] of what was staged, once staging succeeded (a record
    /// without one is a stage that did not finish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The folder this record belongs to: its absolute path ...
    pub folder: PathBuf,
    /// ... and `<device>:<inode>`, which nobody can know before the folder exists.
    pub folder_id: String,
}

impl Record {
    pub fn new(method: Method, namespace: &str, context: Option<String>) -> Record {
        Record {
            method,
            namespace: namespace.into(),
            context,
            pvc: None,
            config_map: None,
            secret: None,
            fingerprint: None,
            folder: PathBuf::new(),
            folder_id: String::new(),
        }
    }

    /// Each field as `stage` writes it: names valid for their kind, the method's own
    /// names present, and no value that kubectl could take for a flag.
    fn check(&self) -> std::result::Result<(), String> {
        if !names::is_dns1123_label(&self.namespace) {
            return Err(format!(
                "namespace {:?} is not a valid namespace",
                self.namespace
            ));
        }
        if let Some(f) = &self.fingerprint {
            let hex_ok = f
                .strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if !hex_ok {
                return Err("fingerprint is not a sha256".into());
            }
        }
        if let Some(context) = &self.context {
            if context.is_empty()
                || context.starts_with('-')
                || context.len() > 1024
                || context.chars().any(char::is_control)
            {
                return Err(format!(
                    "context {context:?} is not a kubeconfig context name"
                ));
            }
        }
        let name = |what: &str, value: &Option<String>| match value {
            Some(v) if names::is_dns1123_subdomain(v) => Ok(()),
            Some(v) => Err(format!("{what} {v:?} is not a valid Kubernetes name")),
            None => Err(format!("{what} is missing")),
        };
        match self.method {
            Method::Pvc => name("pvc", &self.pvc),
            Method::Configmap => {
                name("config_map", &self.config_map)?;
                name("secret", &self.secret)
            }
        }
    }
}

pub fn path(kit: &Path) -> PathBuf {
    kit.join(RECORD_FILE)
}

fn folder_id(dir: &Path) -> Result<String> {
    let meta = std::fs::metadata(dir).map_err(|e| super::kit_io("read", dir, e))?;
    Ok(format!("{}:{}", meta.dev(), meta.ino()))
}

fn untrusted(file: &Path, why: &str) -> Error {
    Error::new(
        Code::InvalidStageRecord,
        format!(
            "{} was not written by `helm nvflare stage` for this folder ({why}); refusing to act on it.",
            file.display()
        ),
        "If you staged this folder and then moved or copied it, delete what was staged by hand (kubectl delete ...), then remove the file. Never keep a stage record that came with a kit.",
    )
}

/// The record of `kit`, if there is one; an error when there is one that is not ours.
pub fn read(kit: &Path) -> Result<Option<Record>> {
    let file = path(kit);
    let meta = match std::fs::symlink_metadata(&file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(super::kit_io("read", &file, e)),
    };
    if !meta.is_file() {
        return Err(untrusted(&file, "it is not a regular file"));
    }
    if meta.len() > MAX_RECORD_BYTES {
        return Err(untrusted(&file, "it is far too large"));
    }
    let text = std::fs::read_to_string(&file).map_err(|e| super::kit_io("read", &file, e))?;
    let record: Record = serde_json::from_str(&text)
        .map_err(|e| untrusted(&file, &format!("it does not parse: {e}")))?;
    record.check().map_err(|why| untrusted(&file, &why))?;
    if record.folder != kit || record.folder_id != folder_id(kit)? {
        return Err(untrusted(&file, "it belongs to another folder"));
    }
    Ok(Some(record))
}

/// Writes `record`, bound to `kit`.
pub fn write(kit: &Path, record: &Record) -> Result<()> {
    let record = Record {
        folder: kit.to_path_buf(),
        folder_id: folder_id(kit)?,
        ..record.clone()
    };
    debug_assert!(record.check().is_ok(), "stage writes valid records");
    let text = serde_json::to_string_pretty(&record).expect("a record serializes") + "\n";
    crate::fs_tree::write_atomically(&path(kit), text.as_bytes())
        .map_err(|e| super::kit_io("write", &path(kit), e))
}

/// The namespace and the ConfigMap/Secret that `helm_chart/values.yaml` records as staged,
/// if it records any. The file is read without following a link, capped, and anything that
/// is not the expected shape counts as nothing staged.
fn staged_in_values(output: &Path) -> Option<(String, String)> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    const CAP: u64 = 1024 * 1024;
    let path = output.join(crate::chart::CHART_DIR).join("values.yaml");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.take(CAP).read_to_string(&mut text).ok()?;
    let values: serde_json::Value = serde_saphyr::from_str(&text).ok()?;
    let config = &values["workspaceConfig"];
    let name = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let objects: Vec<String> = [
        name(&config["local"]["configMapName"]).map(|n| format!("configmap/{n}")),
        name(&config["startup"]["secretName"]).map(|n| format!("secret/{n}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if objects.is_empty() {
        return None;
    }
    let namespace = name(&config["namespace"]).unwrap_or_else(|| "?".into());
    Some((namespace, objects.join(", ")))
}

pub fn remove(kit: &Path) -> Result<()> {
    match std::fs::remove_file(path(kit)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(super::kit_io("remove", &path(kit), e)),
    }
}

/// `prepare` must not replace an output whose files are still staged in a cluster: one our
/// stage record names, or one whose chart values record a staged ConfigMap or Secret in
/// `workspaceConfig` (what `nvflare deploy k8s stage` writes, and `stage --method
/// configmap` too), whoever staged it.
pub(crate) fn refuse_if_staged(output: &Path) -> Result<()> {
    // Not a folder (yet): nothing can be staged from it; prepare's own checks say the rest.
    if !std::fs::symlink_metadata(output).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    match read(output)? {
        None => match staged_in_values(output) {
            None => Ok(()),
            Some((namespace, objects)) => Err(Error::new(
                Code::OutputStaged,
                format!(
                    "{} still has staged resources in namespace {namespace}: {objects} (helm_chart/values.yaml, workspaceConfig); preparing over it would orphan them.",
                    output.display()
                ),
                format!(
                    "After `helm uninstall`, run `nvflare deploy k8 unstage {}` (it was staged by NVFlare's own command), then prepare again; or prepare into another --output.",
                    output.display()
                ),
            )),
        },
        Some(record) => Err(Error::new(
            Code::OutputStaged,
            format!(
                "{} is staged in namespace {} ({}); preparing over it would orphan what is in the cluster.",
                output.display(),
                record.namespace,
                record.method.as_str()
            ),
            format!("Run `helm nvflare unstage {}` first, or prepare into another --output.", output.display()),
        )),
    }
}
