//! A chart or plugin archive on disk: reading it within Helm's limits, the checks `push`,
//! `sign` and `verify-chart` run on its contents (one gzip stream, clean paths, each path
//! once, only files and folders, Chart.yaml's name and version), and the key-material
//! scanner `package` runs on a chart folder. The registry code only moves archives.

pub mod chart;
pub mod key_material;

use std::path::Path;

use crate::error::{Code, Error, Result};

pub use chart::MAX_CHART_BYTES;

pub(crate) fn archive_error(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        Code::InvalidArchive,
        format!("{} is not a chart archive: {why}", path.display()),
        "Give .tgz files written by `helm nvflare package` (or `helm package`).",
    )
}

/// An archive file's bytes, refusing files larger than any chart Helm would accept.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    chart::read_capped(path).map_err(|e| {
        Error::new(
            Code::InvalidArchive,
            format!("Cannot read chart archive {}: {e}", path.display()),
            "Check the path; `helm nvflare package` writes <chart>-<version>.tgz.",
        )
    })
}

/// [`chart::check`] with errors naming the file.
pub(crate) fn check_chart(path: &Path, bytes: &[u8]) -> Result<chart::Checked> {
    chart::check(bytes).map_err(|problem| match problem {
        chart::Problem::KeyMaterial(why) => key_material_error(&path.display().to_string(), &why),
        chart::Problem::Invalid(why) => archive_error(path, why),
    })
}

/// Key material where none may be.
pub(crate) fn key_material_error(what: &str, why: &str) -> Error {
    Error::new(
        Code::KeyMaterialInChart,
        format!("Refusing to package {what}: {why}."),
        "Private keys and certificates belong in startup/, never in a chart; remove the file from the chart folder.",
    )
}
