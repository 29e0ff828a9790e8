//! `package`: a prepared chart as a versioned, reproducible, key-free `.tgz`, laid out as
//! `helm package` lays it out (one top folder named after the chart, `.helmignore` honoured).

mod archive;
mod helmignore;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::chart::CHART_DIR;
use crate::error::{Code, Error, Result};
use crate::names::sha256_hex;
use crate::provenance::{self, SigningKey};
use helmignore::HelmIgnore;

/// `--version` and `--app-version`: what the archive's Chart.yaml says instead of the
/// chart's own values.
#[derive(Debug, Clone, Default)]
pub struct ChartVersions {
    pub version: Option<String>,
    pub app_version: Option<String>,
}

impl ChartVersions {
    /// The one check of `--version`, before anything is written.
    pub fn check(&self) -> Result<()> {
        match &self.version {
            Some(v) if !crate::names::is_strict_semver(v) => Err(Error::invalid_args(
                format!("--version {v:?} is not a strict semantic version."),
                "Use MAJOR.MINOR.PATCH with optional -prerelease and +build, without a leading v, e.g. 1.2.0 or 1.2.0-rc.1.",
            )),
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PackageSettings {
    /// A chart folder, or a prepared kit holding `helm_chart/`.
    pub source: PathBuf,
    pub versions: ChartVersions,
    /// Defaults to the current folder, as for `helm package`.
    pub destination: Option<PathBuf>,
    /// `--sign`: the unlocked key that signs each archive into `<archive>.prov`.
    pub sign: Option<Arc<SigningKey>>,
}

/// One chart archive `package` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Packaged {
    #[serde(rename = "chart")]
    pub name: String,
    pub version: String,
    pub app_version: Option<String>,
    pub archive: PathBuf,
    pub sha256: String,
    pub size: usize,
    /// `<archive>.prov`, with `--sign`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<PathBuf>,
    /// Who signed it, with `--sign`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

impl crate::output::Report for Packaged {}

/// An archive built in memory, with its `.prov` when signing: nothing written yet.
#[derive(Debug)]
pub struct Built {
    pub packaged: Packaged,
    pub bytes: Vec<u8>,
    pub provenance: Option<String>,
}

impl Built {
    /// Writes the archive, then its `.prov`, each atomically; if the `.prov` cannot be
    /// written the archive is removed again, so a signed package is never left unsigned.
    pub fn write(&self) -> Result<()> {
        self.write_to(&self.packaged.archive)
    }

    /// The same, into another folder (a federation's work folder) under the same names.
    pub(crate) fn write_to(&self, archive: &Path) -> Result<()> {
        write_archive(archive, &self.bytes)?;
        if let Some(prov) = &self.provenance {
            if let Err(err) = write_archive(&provenance::prov_path(archive), prov.as_bytes()) {
                let _ = std::fs::remove_file(archive);
                return Err(err);
            }
        }
        Ok(())
    }
}

/// `<path>` itself when it holds Chart.yaml, else `<path>/helm_chart` of a prepared kit.
pub(crate) fn chart_dir_of(source: &Path) -> Result<PathBuf> {
    if source.join("Chart.yaml").is_file() {
        return Ok(source.to_path_buf());
    }
    let nested = source.join(CHART_DIR);
    if nested.join("Chart.yaml").is_file() {
        return Ok(nested);
    }
    Err(Error::invalid_args(
        format!(
            "No chart in {}: neither Chart.yaml nor {CHART_DIR}/Chart.yaml.",
            source.display()
        ),
        "Give a prepared kit (the --output of `helm nvflare prepare`) or a chart folder.",
    ))
}

fn chart_error(chart_dir: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        Code::InvalidChart,
        format!("Invalid chart {}: {why}", chart_dir.display()),
        "Prepare the kit again with `helm nvflare prepare`, or fix Chart.yaml.",
    )
}

pub(crate) fn read_chart_yaml(chart_dir: &Path) -> Result<Map<String, Value>> {
    let text = std::fs::read_to_string(chart_dir.join("Chart.yaml"))
        .map_err(|e| chart_error(chart_dir, e))?;
    match serde_saphyr::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(chart_error(chart_dir, "Chart.yaml is not a mapping")),
        Err(e) => Err(chart_error(
            chart_dir,
            format!(
                "Chart.yaml: {}",
                e.to_string().lines().next().unwrap_or_default()
            ),
        )),
    }
}

/// Every file of the chart that goes into the archive, in Helm's order, as (relative path,
/// contents). Refuses charts holding key material, symlinks or special files: every file
/// is scanned, also those `.helmignore` skips, since a key that happens to be ignored is
/// still a key lying in a folder meant for publishing.
fn collect(chart_dir: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let io_error = |e: std::io::Error| chart_error(chart_dir, e);
    let entries = crate::fs_tree::walk(chart_dir, &|_| false).map_err(io_error)?;
    let irregular = crate::fs_tree::irregular(&entries);
    if !irregular.is_empty() {
        return Err(chart_error(
            chart_dir,
            format!(
                "it holds entries that are not regular files or folders: {}",
                irregular.join(", ")
            ),
        ));
    }
    let ignore = HelmIgnore::load(chart_dir).map_err(|why| chart_error(chart_dir, why))?;
    let mut ignored_dirs: Vec<String> = Vec::new();
    let mut files = Vec::new();
    for entry in &entries {
        let is_dir = entry.kind == crate::fs_tree::Kind::Dir;
        let contents = if is_dir {
            None
        } else {
            Some(std::fs::read(&entry.path).map_err(io_error)?)
        };
        if let Some(why) =
            crate::archive::key_material::reason(&entry.rel, is_dir, contents.as_deref())
        {
            return Err(crate::archive::key_material_error(
                &chart_dir.display().to_string(),
                &why,
            ));
        }
        let under_ignored = ignored_dirs
            .iter()
            .any(|d| entry.rel.starts_with(&format!("{d}/")));
        if under_ignored || ignore.ignored(&entry.rel, is_dir) {
            if is_dir {
                ignored_dirs.push(entry.rel.clone());
            }
            continue;
        }
        if let Some(bytes) = contents {
            files.push((entry.rel.clone(), bytes));
        }
    }
    if !files.iter().any(|(rel, _)| rel == "Chart.yaml") {
        return Err(chart_error(chart_dir, ".helmignore ignores Chart.yaml"));
    }
    // Stable: the walk's order within each group is Helm's.
    files.sort_by_key(|(rel, _)| archive::helm_group(rel));
    Ok(files)
}

/// The archive's bytes (and `.prov`) and what they are, without writing anything.
pub fn build(settings: &PackageSettings) -> Result<Built> {
    settings.versions.check()?;
    let chart_dir = chart_dir_of(&settings.source)?;
    let mut chart = read_chart_yaml(&chart_dir)?;
    let name = chart
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .ok_or_else(|| {
            chart_error(
                &chart_dir,
                "Chart.yaml needs a name of letters, digits, '-', '_' or '.'",
            )
        })?
        .to_string();
    let mut files = collect(&chart_dir)?;
    let versions = &settings.versions;
    if versions.version.is_some() || versions.app_version.is_some() {
        if let Some(v) = &versions.version {
            chart.insert("version".into(), Value::String(v.clone()));
        }
        if let Some(v) = &versions.app_version {
            chart.insert("appVersion".into(), Value::String(v.clone()));
        }
        let text = crate::yaml_writer::block(&Value::Object(chart.clone()), 0) + "\n";
        if let Some(entry) = files.iter_mut().find(|(rel, _)| rel == "Chart.yaml") {
            entry.1 = text.into_bytes();
        }
    }
    let version = match chart.get("version") {
        Some(Value::String(v)) => v.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(chart_error(&chart_dir, "Chart.yaml has no version")),
    };
    if !crate::names::is_strict_semver(&version) {
        return Err(chart_error(
            &chart_dir,
            format!("version {version:?} is not a strict semantic version; pass --version"),
        ));
    }
    let entries: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(rel, bytes)| (format!("{name}/{rel}"), bytes))
        .collect();
    let bytes = archive::tgz(&entries).map_err(|e| chart_error(&chart_dir, e))?;
    let destination = settings
        .destination
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let file_name = format!("{name}-{version}.tgz");
    let archive = crate::fs_tree::resolve(&destination).join(&file_name);
    let provenance = match &settings.sign {
        Some(key) => Some(provenance::sign(
            key,
            &bytes,
            std::slice::from_ref(&file_name),
            &provenance::helm_yaml::chart_metadata(&chart),
        )?),
        None => None,
    };
    let packaged = Packaged {
        provenance: provenance.as_ref().map(|_| provenance::prov_path(&archive)),
        signed_by: settings.sign.as_ref().map(|k| k.signer.clone()),
        archive,
        name,
        version,
        app_version: chart
            .get("appVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        sha256: sha256_hex(&bytes),
        size: bytes.len(),
    };
    Ok(Built {
        packaged,
        bytes,
        provenance,
    })
}

/// Builds the archive (and `.prov`) and writes it atomically (temporary file beside it,
/// then rename).
pub fn package(settings: &PackageSettings) -> Result<Packaged> {
    let built = build(settings)?;
    built.write()?;
    Ok(built.packaged)
}

/// Writes an archive where `package` was asked to.
pub(crate) fn write_archive(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fs_tree::write_atomically(path, bytes).map_err(|e| {
        Error::new(
            Code::InvalidArgs,
            format!("Cannot write {}: {e}", path.display()),
            "Choose a writable --destination.",
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::names::is_strict_semver;

    #[test]
    fn strict_semver() {
        for ok in ["0.1.0", "1.2.3-rc.1", "1.0.0+build.5", "10.20.30-alpha-1+x"] {
            assert!(is_strict_semver(ok), "{ok}");
        }
        for bad in [
            "v1.0.0",
            "1.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0+",
            "1.0.0-01",
            "1.0.0 ",
            "１.0.0",
            "99999999999999999999.0.0",
        ] {
            assert!(!crate::names::is_strict_semver(bad), "{bad}");
        }
    }
}
