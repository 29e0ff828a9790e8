//! The backup archive: a gzip'd tar of what a participant keeps on its workspace PVC
//! (everything but the staged `startup/` and `local/`), led by a manifest naming whose it
//! is. Both directions are untrusted: the tar stream a helper pod sends, and a backup file
//! given to `restore`. Either way only directories and regular files with plain relative
//! paths pass, within a size and an entry cap that are counted while the stream is read
//! (a gzip bomb stops at the cap, it is never unpacked whole).

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Code, Error, Result};
use crate::kit::Role;

/// The first entry of every backup.
pub const MANIFEST: &str = ".helm-nvflare-backup.json";
/// What a backup never holds and a restore never writes: staging's.
pub use crate::stage::STAGING_OWNS as NOT_BACKED_UP;
/// Default cap on a backup's unpacked size.
pub const DEFAULT_MAX_BYTES: u64 = 16 << 30;
const MAX_ENTRIES: usize = 1_000_000;
const MAX_PATH_BYTES: usize = 4096;
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// Whose backup this is, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    pub participant: String,
    pub role: Role,
    pub release: String,
    pub namespace: String,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    pub files: u64,
    pub bytes: u64,
}

/// One path of a backup, relative to the workspace root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub path: String,
    pub dir: bool,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct Checked {
    pub manifest: Manifest,
    pub entries: Vec<Entry>,
}

impl Checked {
    /// The top-level names the backup holds (`transfer`, `server`, `log.txt`).
    pub(crate) fn top_level(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| e.path.split('/').next().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// `nvflare-backup-<release>-<UTC time>.tgz`.
pub fn file_name(release: &str, now_secs: u64) -> String {
    let stamp = crate::provenance::keyring::date_time(now_secs)
        .replace(['-', ':'], "")
        .replace(' ', "T");
    format!("nvflare-backup-{release}-{stamp}Z.tgz")
}

fn invalid(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        Code::InvalidBackup,
        format!(
            "{} is not a backup helm-nvflare can restore: {why}; nothing was written.",
            path.display()
        ),
        "Give an archive `helm nvflare backup` or `upgrade` wrote, unchanged.",
    )
}

/// A tar path as a plain relative path (`a/b`), or why not. `./` leads are dropped;
/// `.`, the root itself, is None.
fn plain_path(raw: &[u8]) -> std::result::Result<Option<String>, String> {
    let text = std::str::from_utf8(raw).map_err(|_| "a path is not UTF-8".to_string())?;
    if text.len() > MAX_PATH_BYTES {
        return Err("a path is longer than 4096 bytes".into());
    }
    if text.chars().any(char::is_control) {
        return Err(format!(
            "the path {} has control characters",
            crate::terminal::escape(text)
        ));
    }
    let mut parts = Vec::new();
    for component in Path::new(text).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "the path {} leaves the workspace",
                    crate::terminal::escape(text)
                ))
            }
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Reads a tar stream entry by entry, checking each; `keep` gets every accepted entry
/// with its reader. Entries named in [`NOT_BACKED_UP`] are `skip_staged`'d or refused.
fn read_entries<R: Read>(
    reader: R,
    max_bytes: u64,
    skip_staged: bool,
    mut keep: impl FnMut(&Entry, &mut dyn Read) -> std::result::Result<(), String>,
) -> std::result::Result<Vec<Entry>, String> {
    let mut archive = tar::Archive::new(reader);
    let mut entries = Vec::new();
    let mut total: u64 = 0;
    let iter = archive
        .entries()
        .map_err(|e| format!("it is not a tar archive ({e})"))?;
    for entry in iter {
        let mut entry = entry.map_err(|e| format!("it is not a whole tar archive ({e})"))?;
        let kind = entry.header().entry_type();
        let raw = entry.path_bytes().into_owned();
        let Some(path) = plain_path(&raw)? else {
            continue;
        };
        let top = path.split('/').next().unwrap_or_default();
        if NOT_BACKED_UP.contains(&top) {
            if skip_staged {
                continue;
            }
            return Err(format!(
                "it holds {}, which staging owns",
                crate::terminal::escape(&path)
            ));
        }
        let dir = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => false,
            tar::EntryType::Directory => true,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            other => {
                return Err(format!(
                    "{} is a {} (only files and folders are restored)",
                    crate::terminal::escape(&path),
                    kind_name(other)
                ))
            }
        };
        let size = if dir {
            0
        } else {
            entry.header().size().unwrap_or(u64::MAX)
        };
        total = total.saturating_add(size);
        if total > max_bytes {
            return Err(format!(
                "it unpacks to more than {} MiB (--max-size)",
                max_bytes >> 20
            ));
        }
        if entries.len() >= MAX_ENTRIES {
            return Err(format!("it has more than {MAX_ENTRIES} entries"));
        }
        let record = Entry { path, dir, size };
        keep(&record, &mut entry)?;
        entries.push(record);
    }
    Ok(entries)
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char | tar::EntryType::Block => "device",
        tar::EntryType::Fifo => "FIFO",
        _ => "special entry",
    }
}

/// Turns the raw tar a helper pod sent into the backup `dest`: each entry checked, the
/// manifest first, written to a temporary file beside `dest` and moved into place.
pub fn write(
    raw: &Path,
    dest: &Path,
    manifest: &mut Manifest,
    max_bytes: u64,
) -> Result<Vec<Entry>> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let failed = |why: String| {
        Error::new(
            Code::BackupFailed,
            format!("The workspace could not be backed up: {why}; no backup was written."),
            "Fix what the workspace PVC holds (a backup carries only files and folders), or free space in --backup-dir.",
        )
    };
    let io = |e: std::io::Error| failed(format!("{}: {e}", dir.display()));
    let temp = tempfile::Builder::new()
        .prefix(".nvflare-backup-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(io)?;
    // Sizes are known only after a first pass: the manifest leads, so count first.
    let source = std::fs::File::open(raw).map_err(io)?;
    let entries = read_entries(std::io::BufReader::new(source), max_bytes, true, |_, _| {
        Ok(())
    })
    .map_err(failed)?;
    manifest.files = entries.iter().filter(|e| !e.dir).count() as u64;
    manifest.bytes = entries.iter().map(|e| e.size).sum();
    let gz = flate2::write::GzEncoder::new(temp.as_file(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest_bytes.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, MANIFEST, manifest_bytes.as_slice())
        .map_err(io)?;
    let source = std::fs::File::open(raw).map_err(io)?;
    let again = read_entries(
        std::io::BufReader::new(source),
        max_bytes,
        true,
        |entry, data| {
            let mut header = tar::Header::new_gnu();
            header.set_mode(if entry.dir { 0o755 } else { 0o644 });
            header.set_entry_type(if entry.dir {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            header.set_size(entry.size);
            builder
                .append_data(&mut header, &entry.path, data.take(entry.size))
                .map_err(|e| e.to_string())
        },
    )
    .map_err(failed)?;
    if again != entries {
        return Err(failed("the stream changed while it was read".into()));
    }
    let gz = builder.into_inner().map_err(io)?;
    gz.finish().map_err(io)?.sync_all().map_err(io)?;
    temp.persist_noclobber(dest).map_err(|e| io(e.error))?;
    Ok(entries)
}

/// Reads the backup at `path` end to end: its manifest, then every entry checked. When
/// `into` is given, the files are written below it (a fresh folder) as they are read.
pub fn read(path: &Path, max_bytes: u64, into: Option<&Path>) -> Result<Checked> {
    let file = std::fs::File::open(path).map_err(|e| invalid(path, e))?;
    let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    let mut manifest: Option<Manifest> = None;
    let mut first = true;
    let entries = read_entries(gz, max_bytes, false, |entry, data| {
        if std::mem::take(&mut first) {
            if entry.path != MANIFEST || entry.dir || entry.size > MAX_MANIFEST_BYTES {
                return Err(format!("it does not start with {MANIFEST}"));
            }
            let mut text = Vec::new();
            data.take(MAX_MANIFEST_BYTES)
                .read_to_end(&mut text)
                .map_err(|e| e.to_string())?;
            let parsed: Manifest = serde_json::from_slice(&text)
                .map_err(|e| format!("its {MANIFEST} is not a backup manifest ({e})"))?;
            if parsed.format != 1 {
                return Err(format!("its format {} is not 1", parsed.format));
            }
            manifest = Some(parsed);
            return Ok(());
        }
        if entry.path == MANIFEST {
            return Err(format!("it has {MANIFEST} twice"));
        }
        if let Some(root) = into {
            write_entry(root, entry, data)
                .map_err(|e| format!("{}: {e}", crate::terminal::escape(&entry.path)))?;
        }
        Ok(())
    })
    .map_err(|why| invalid(path, why))?;
    let manifest = manifest.ok_or_else(|| invalid(path, "it is empty"))?;
    let entries: Vec<Entry> = entries.into_iter().filter(|e| e.path != MANIFEST).collect();
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = entries.iter().find(|e| !seen.insert(e.path.as_str())) {
        return Err(invalid(
            path,
            format!("{} is in it twice", crate::terminal::escape(&dup.path)),
        ));
    }
    Ok(Checked { manifest, entries })
}

/// Writes one checked entry below `root`, never through a link: every parent is a folder
/// this extraction made (the root is fresh), and files are created new.
fn write_entry(root: &Path, entry: &Entry, data: &mut dyn Read) -> std::io::Result<()> {
    let target: PathBuf = root.join(&entry.path);
    let mut parent = root.to_path_buf();
    let parts: Vec<&str> = entry.path.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        parent.push(part);
        match std::fs::symlink_metadata(&parent) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(std::io::Error::other("a parent of it is not a folder")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir(&parent)?,
            Err(e) => return Err(e),
        }
    }
    if entry.dir {
        return match std::fs::create_dir(&target) {
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    && std::fs::symlink_metadata(&target)?.is_dir() =>
            {
                Ok(())
            }
            other => other,
        };
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)?;
    let n = std::io::copy(&mut data.take(entry.size), &mut file)?;
    if n != entry.size {
        return Err(std::io::Error::other("the archive ends inside this file"));
    }
    file.flush()
}

/// Whether the backup belongs to `kit`'s participant; why not otherwise.
pub(crate) fn check_owner(
    path: &Path,
    manifest: &Manifest,
    participant: &str,
    role: Role,
) -> Result<()> {
    if manifest.participant == participant && manifest.role == role {
        return Ok(());
    }
    Err(Error::new(
        Code::BackupMismatch,
        format!(
            "{} is a backup of {} ({}), not of {participant} ({}); nothing was written.",
            path.display(),
            crate::terminal::escape(&manifest.participant),
            manifest.role.as_str(),
            role.as_str()
        ),
        "Restore a participant's own backup onto its own workspace.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: 1,
            participant: "server".into(),
            role: Role::Server,
            release: "server".into(),
            namespace: "nvflare".into(),
            created: "2026-12-01T00:00:00Z".into(),
            files: 0,
            bytes: 0,
        }
    }

    /// A raw tar as a helper pod's `tar -cf - -C /workspace .` sends it.
    fn raw_tar(dir: &Path, build: impl FnOnce(&mut tar::Builder<std::fs::File>)) -> PathBuf {
        let path = dir.join("raw.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
        build(&mut b);
        b.finish().unwrap();
        path
    }

    fn file(b: &mut tar::Builder<std::fs::File>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..`; a hostile archive writes the name bytes itself.
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn round_trip_skips_staged_folders_and_keeps_bytes() {
        let t = tempfile::tempdir().unwrap();
        let raw = raw_tar(t.path(), |b| {
            file(b, "./transfer/a.bin", &[1, 2, 3]);
            file(b, "./startup/server.key", b"KEY");
            file(b, "./server/jobs/j1/meta.json", b"{}");
        });
        let dest = t.path().join("b.tgz");
        let mut m = manifest();
        let entries = write(&raw, &dest, &mut m, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!((m.files, m.bytes), (2, 5));
        let out = t.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let checked = read(&dest, DEFAULT_MAX_BYTES, Some(&out)).unwrap();
        assert_eq!(checked.manifest, m);
        assert_eq!(checked.top_level(), vec!["server", "transfer"]);
        assert_eq!(
            std::fs::read(out.join("transfer/a.bin")).unwrap(),
            [1, 2, 3]
        );
        assert!(!out.join("startup").exists());
    }

    #[test]
    fn hostile_entries_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let cases: Vec<(&str, Box<dyn Fn(&mut tar::Builder<std::fs::File>)>)> = vec![
            (
                "leaves the workspace",
                Box::new(|b| file(b, "../escape", b"x")),
            ),
            (
                "leaves the workspace",
                Box::new(|b| file(b, "/etc/passwd", b"x")),
            ),
            (
                "symbolic link",
                Box::new(|b| {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    b.append_link(&mut h, "transfer/l", "/etc").unwrap();
                }),
            ),
            (
                "hard link",
                Box::new(|b| {
                    let mut h = tar::Header::new_gnu();
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, "transfer/h", "transfer/a").unwrap();
                }),
            ),
        ];
        for (why, build) in cases {
            let raw = raw_tar(t.path(), |b| build(b));
            let err = write(
                &raw,
                &t.path().join("b.tgz"),
                &mut manifest(),
                DEFAULT_MAX_BYTES,
            )
            .unwrap_err();
            assert_eq!(err.code, Code::BackupFailed);
            assert!(err.message.contains(why), "{why}: {}", err.message);
            assert!(!t.path().join("b.tgz").exists());
        }
    }

    #[test]
    fn file_names_sort_by_time() {
        assert_eq!(
            file_name("server", 0),
            "nvflare-backup-server-19700101T000000Z.tgz"
        );
    }
}
