//! `sign`: `.prov` files for archives that exist already — charts (from `package` or
//! `helm package`) and plugin release archives (scripts/release.sh). Every archive is
//! read, checked and signed in memory before any `.prov` is written.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Code, Result};
use crate::names::sha256_hex;
use crate::provenance::{self, helm_yaml, SigningKey};
use crate::registry::plugin::plugin_metadata;

/// One archive signed.
#[derive(Debug, Clone, Serialize)]
pub struct Signed {
    pub archive: PathBuf,
    pub provenance: PathBuf,
    /// `chart` or `plugin`.
    pub kind: &'static str,
    /// The file names the `.prov` vouches for.
    pub names: Vec<String>,
    pub sha256: String,
    pub signed_by: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignReport {
    pub signed: Vec<Signed>,
}

impl crate::output::Report for SignReport {
    fn text(&self) -> String {
        crate::output::key_value_blocks(&self.signed)
    }
}

/// The `.prov` text for one archive: a chart is named by its file name (as `helm verify`
/// looks it up); a plugin also by `<name>-<version>.tgz`, the name Helm 4 verifies a
/// plugin from a registry under.
fn provenance_for(path: &Path, key: &SigningKey) -> Result<(Signed, String)> {
    let bytes = crate::archive::read(path)?;
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (kind, names, metadata) = match crate::archive::check_chart(path, &bytes) {
        Ok(chart) => ("chart", vec![file], helm_yaml::chart_metadata(&chart.chart)),
        // Not a chart (key material is never "not a chart"): a plugin archive, or neither.
        Err(err) if err.code == Code::InvalidArchive => {
            let Ok((name, version)) = plugin_metadata(&bytes) else {
                return Err(err);
            };
            let metadata = format!(
                "name: {}\nversion: {}\n",
                helm_yaml::scalar(&name),
                helm_yaml::scalar(&version)
            );
            // The name Helm 4 verifies a plugin from a registry under.
            let mut names = vec![file, format!("{name}-{version}.tgz")];
            names.dedup();
            ("plugin", names, metadata)
        }
        Err(err) => return Err(err),
    };
    let prov = provenance::sign(key, &bytes, &names, &metadata)?;
    Ok((
        Signed {
            archive: path.to_path_buf(),
            provenance: provenance::prov_path(path),
            kind,
            names,
            sha256: sha256_hex(&bytes),
            signed_by: key.signer.clone(),
        },
        prov,
    ))
}

pub fn sign_archives(paths: &[PathBuf], key: &SigningKey) -> Result<SignReport> {
    let signed = paths
        .iter()
        .map(|p| provenance_for(p, key))
        .collect::<Result<Vec<_>>>()?;
    for (s, prov) in &signed {
        crate::package::write_archive(&s.provenance, prov.as_bytes())?;
    }
    Ok(SignReport {
        signed: signed.into_iter().map(|(s, _)| s).collect(),
    })
}
