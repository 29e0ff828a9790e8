//! What was staged, recorded in the prepared kit (`.helm-nvflare-stage.json`) before the
//! cluster is touched, so `unstage` removes exactly that, and `prepare` can refuse to
//! replace a kit that is still staged.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Result};

pub const RECORD_FILE: &str = ".helm-nvflare-stage.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// `pvc` or `configmap`.
    pub method: String,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

pub fn path(kit: &Path) -> PathBuf {
    kit.join(RECORD_FILE)
}

pub fn read(kit: &Path) -> Result<Option<Record>> {
    let file = path(kit);
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::new(
            Code::NotPrepared,
            format!("{} is damaged: {e}", file.display()),
            "Delete what was staged by hand (kubectl delete), then remove the file.",
        )
    })
}

pub fn write(kit: &Path, record: &Record) -> Result<()> {
    let text = serde_json::to_string_pretty(record).expect("a record serializes") + "\n";
    crate::package::write_atomically(&path(kit), text.as_bytes())
}

pub fn remove(kit: &Path) -> Result<()> {
    match std::fs::remove_file(path(kit)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::prepare_io("remove", &path(kit), e)),
    }
}

/// `prepare` must not replace an output whose files are still staged in a cluster.
pub fn refuse_if_staged(output: &Path) -> Result<()> {
    match read(output) {
        Ok(None) => Ok(()),
        Ok(Some(record)) => Err(Error::new(
            Code::OutputStaged,
            format!(
                "{} is staged in namespace {} ({}); preparing over it would orphan what is in the cluster.",
                output.display(),
                record.namespace,
                record.method
            ),
            format!("Run `helm nvflare unstage {}` first, or prepare into another --output.", output.display()),
        )),
        Err(err) => Err(err),
    }
}
