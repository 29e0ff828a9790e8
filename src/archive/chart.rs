//! A chart archive's contents, checked: it must be what `package` writes, and nothing a
//! registry, Helm or another site could be hurt by. `push`, `sign` and `verify-chart` read
//! archives through here; plugin archives share the tar and gzip rules.

use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};

use super::key_material;

/// Helm refuses charts that decompress to more than this (`MaxDecompressedChartSize`).
pub const MAX_CHART_BYTES: u64 = 100 * 1024 * 1024;
/// Helm refuses single files over this (`MaxDecompressedFileSize`).
pub const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;

pub enum Problem {
    Invalid(String),
    KeyMaterial(String),
}

pub struct Checked {
    pub chart: Map<String, Value>,
    pub name: String,
    pub version: String,
}

/// The archive file's bytes, refusing files larger than any chart Helm would accept.
pub(crate) fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_CHART_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CHART_BYTES {
        return Err(std::io::Error::other(format!(
            "it is larger than {} MiB",
            MAX_CHART_BYTES >> 20
        )));
    }
    Ok(bytes)
}

pub(crate) fn invalid(why: impl Into<String>) -> Problem {
    Problem::Invalid(why.into())
}

/// The whole gzip stream, decompressed within `limit` bytes; trailing bytes are refused.
pub(crate) fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, Problem> {
    let mut decoder = flate2::bufread::GzDecoder::new(bytes);
    let mut tar = Vec::new();
    (&mut decoder)
        .take(limit + 1)
        .read_to_end(&mut tar)
        .map_err(|e| invalid(format!("the gzip stream is damaged or truncated ({e})")))?;
    if tar.len() as u64 > limit {
        return Err(invalid(format!(
            "it decompresses to more than {} MiB",
            limit >> 20
        )));
    }
    if !decoder.into_inner().is_empty() {
        return Err(invalid("there are bytes after the end of the gzip stream"));
    }
    Ok(tar)
}

/// A relative path of normal components only.
fn clean_path(raw: &[u8]) -> Result<String, Problem> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| invalid("an entry's path is not UTF-8"))?
        .trim_end_matches('/');
    let show = crate::terminal::escape(text);
    if text.is_empty() || text.starts_with('/') || text.contains('\\') {
        return Err(invalid(format!(
            "entry {show:?} has an absolute or empty path"
        )));
    }
    if text
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(invalid(format!(
            "entry {show:?} has a '.', '..' or empty path component"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(format!(
            "entry {show:?} has control characters in its path"
        )));
    }
    Ok(text.to_string())
}

pub fn check(bytes: &[u8]) -> Result<Checked, Problem> {
    let tar_bytes = gunzip(bytes, MAX_CHART_BYTES)?;
    let (files, dirs) = entries(&tar_bytes, MAX_FILE_BYTES)?;
    refuse_key_material(&files, &dirs)?;
    let tops: std::collections::BTreeSet<&str> = files
        .iter()
        .map(|(r, _)| r.as_str())
        .chain(dirs.iter().map(String::as_str))
        .map(|r| r.split('/').next().unwrap_or(r))
        .collect();
    let [top] = tops.into_iter().collect::<Vec<_>>()[..] else {
        return Err(invalid(
            "it must hold exactly one top folder, named after the chart",
        ));
    };
    let chart_yaml = files
        .iter()
        .find(|(r, _)| *r == format!("{top}/Chart.yaml"))
        .ok_or_else(|| invalid(format!("there is no {top}/Chart.yaml")))?;
    chart_metadata(top, &chart_yaml.1)
}

/// (path, contents) of each file in an archive.
pub(crate) type Files = Vec<(String, Vec<u8>)>;

/// The archive's files and folders: only those two kinds, with clean paths, each file
/// within `max_file` bytes (Helm's limit, for charts).
pub(crate) fn entries(tar_bytes: &[u8], max_file: u64) -> Result<(Files, Vec<String>), Problem> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    // Helm keeps the last entry for a path; anything that reads the first would see
    // another chart than Helm installs, so a path may appear once.
    let mut seen = std::collections::HashSet::new();
    let damaged = |e: std::io::Error| invalid(format!("the tar stream is damaged ({e})"));
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let rel = clean_path(&entry.path_bytes())?;
        let show = crate::terminal::escape(&rel);
        let is_dir = entry.header().entry_type() == tar::EntryType::Directory;
        if !seen.insert(rel.clone()) && !is_dir {
            return Err(invalid(format!(
                "it holds {show} twice (Helm would read the last one)"
            )));
        }
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if entry.size() > max_file {
                    return Err(invalid(format!(
                        "{show} is larger than {} MiB",
                        max_file >> 20
                    )));
                }
                let mut data = Vec::with_capacity(entry.size() as usize);
                entry
                    .read_to_end(&mut data)
                    .map_err(|e| invalid(format!("{show} cannot be read ({e})")))?;
                files.push((rel, data));
            }
            tar::EntryType::Directory => dirs.push(rel),
            other => {
                return Err(invalid(format!(
                    "{show} is a {} entry; an archive here holds only files and folders",
                    kind_name(other)
                )))
            }
        }
    }
    Ok((files, dirs))
}

/// The scanner `package` uses, on every folder and file; `startup/` or `local/` anywhere
/// below the top folder is a kit folder, not chart content.
pub(crate) fn refuse_key_material(
    files: &[(String, Vec<u8>)],
    dirs: &[String],
) -> Result<(), Problem> {
    for dir in dirs {
        if let Some(why) = key_material::reason(dir, true, None) {
            return Err(Problem::KeyMaterial(why));
        }
    }
    for (rel, data) in files {
        // A compiled program holds the scanner's own markers: only its name is checked.
        let contents = (!is_executable(data)).then_some(data.as_slice());
        if let Some(why) = key_material::reason(rel, false, contents) {
            return Err(Problem::KeyMaterial(why));
        }
        let inside = rel.split_once('/').map_or(rel.as_str(), |(_, r)| r);
        for folder in inside.split('/').rev().skip(1) {
            if let Some(why) = key_material::reason(folder, true, None) {
                return Err(Problem::KeyMaterial(format!("{rel}: {why}")));
            }
        }
    }
    Ok(())
}

/// Chart.yaml: a mapping with an OCI-safe name equal to the top folder, and a strict
/// semver version.
fn chart_metadata(top: &str, chart_yaml: &[u8]) -> Result<Checked, Problem> {
    let text = std::str::from_utf8(chart_yaml).map_err(|_| invalid("Chart.yaml is not UTF-8"))?;
    let chart = match serde_saphyr::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => return Err(invalid("Chart.yaml is not a YAML mapping")),
    };
    let field = |key: &str| chart.get(key).and_then(Value::as_str).map(str::to_string);
    let name = field("name").ok_or_else(|| invalid("Chart.yaml has no name"))?;
    if !crate::names::is_path_component(&name) || name.len() > 250 {
        return Err(invalid(format!(
            "chart name {:?} is not a valid OCI path component (lower case letters, digits, '.', '_', '-')",
            crate::terminal::escape(&name)
        )));
    }
    if name != top {
        return Err(invalid(format!(
            "its top folder {:?} is not the chart's name {name:?}",
            crate::terminal::escape(top)
        )));
    }
    let version = field("version").ok_or_else(|| invalid("Chart.yaml has no version"))?;
    if !crate::names::is_strict_semver(&version) {
        return Err(invalid(format!(
            "version {:?} is not strict semver",
            crate::terminal::escape(&version)
        )));
    }
    Ok(Checked {
        chart,
        name,
        version,
    })
}

/// ELF and Mach-O programs (a plugin archive's binary), by their magic numbers.
fn is_executable(data: &[u8]) -> bool {
    const MAGICS: [[u8; 4]; 6] = [
        *b"\x7fELF",
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
        [0xca, 0xfe, 0xba, 0xbe],
    ];
    data.len() >= 4 && MAGICS.iter().any(|m| data[..4] == *m)
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        _ => "special",
    }
}
