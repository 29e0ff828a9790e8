//! Folder copies and swaps for writing outputs atomically: build in a temporary folder
//! beside the target, then move it into place in one rename.

use std::io;
use std::path::{Path, PathBuf};

/// What a walk found at one path. Symlinks are reported, never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device.
    Special,
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// Slash-separated path relative to the walked folder.
    pub rel: String,
    pub path: PathBuf,
    pub kind: Kind,
}

/// Every entry under `dir`, depth first in name order, without following any symlink.
/// `skip` prunes a path (and, for a folder, everything in it) from the walk.
pub fn walk(dir: &Path, skip: &dyn Fn(&Path) -> bool) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    walk_into(dir, "", skip, &mut out)?;
    Ok(out)
}

fn walk_into(
    dir: &Path,
    prefix: &str,
    skip: &dyn Fn(&Path) -> bool,
    out: &mut Vec<Entry>,
) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| with_path(e, dir))?
        .collect::<io::Result<_>>()
        .map_err(|e| with_path(e, dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if skip(&path) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let file_type = entry.file_type().map_err(|e| with_path(e, &path))?;
        let kind = if file_type.is_symlink() {
            Kind::Symlink
        } else if file_type.is_dir() {
            Kind::Dir
        } else if file_type.is_file() {
            Kind::File
        } else {
            Kind::Special
        };
        out.push(Entry {
            rel: rel.clone(),
            path: path.clone(),
            kind,
        });
        if kind == Kind::Dir {
            walk_into(&path, &rel, skip, out)?;
        }
    }
    Ok(())
}

/// The entries of a walk that are neither regular files nor folders (symlinks, FIFOs,
/// sockets, devices), as `rel` paths: a kit, a prepared output and a chart hold none.
pub(crate) fn irregular(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter(|e| matches!(e.kind, Kind::Symlink | Kind::Special))
        .map(|e| {
            let what = match e.kind {
                Kind::Symlink => match std::fs::read_link(&e.path) {
                    Ok(target) => format!("symlink to {}", target.display()),
                    Err(_) => "symlink".to_string(),
                },
                _ => "not a regular file".to_string(),
            };
            format!("{} ({what})", e.rel)
        })
        .collect()
}

/// Copies the walked `entries` of `src` into the new folder `dst`, keeping permission bits
/// (a private key stays 0600). Only files and folders are copied: a symlink or special
/// file is an error, so nothing outside `src` can end up in `dst`.
pub(crate) fn copy_entries(src: &Path, dst: &Path, entries: &[Entry]) -> io::Result<()> {
    std::fs::create_dir(dst)?;
    std::fs::set_permissions(dst, std::fs::symlink_metadata(src)?.permissions())?;
    for entry in entries {
        let to = dst.join(&entry.rel);
        match entry.kind {
            Kind::Dir => {
                std::fs::create_dir(&to).map_err(|e| with_path(e, &to))?;
                let mode = std::fs::symlink_metadata(&entry.path)?.permissions();
                std::fs::set_permissions(&to, mode)?;
            }
            Kind::File => copy_file(&entry.path, &to).map_err(|e| with_path(e, &entry.path))?,
            Kind::Symlink | Kind::Special => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a regular file or folder", entry.path.display()),
                ))
            }
        }
    }
    Ok(())
}

/// Copies one regular file, refusing to follow a symlink put in its place after the walk.
fn copy_file(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut source = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(from)?;
    let mode = source.metadata()?.permissions();
    let mut target = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    io::copy(&mut source, &mut target)?;
    target.set_permissions(mode)
}

/// Reads `base/rel` as untrusted kit content: no component below `base` may be a link,
/// the file must be a regular file (a FIFO or device is refused, never waited on), and
/// at most `cap` bytes are read.
pub(crate) fn read_untrusted(base: &Path, rel: &Path, cap: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = no_links_below(base, rel)?;
    let refused = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_string());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)?;
    if !file.metadata()?.is_file() {
        return Err(refused("it is not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(refused(&format!("it is larger than {} KiB", cap >> 10)));
    }
    Ok(bytes)
}

/// `base/rel`, when `rel` is a plain relative path none of whose components is a link
/// and all but the last of which are folders: a path that cannot lead out of `base`.
pub(crate) fn no_links_below(base: &Path, rel: &Path) -> io::Result<PathBuf> {
    let refused = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_string());
    let mut path = base.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, part) in parts.iter().enumerate() {
        let std::path::Component::Normal(name) = part else {
            return Err(refused("not a plain relative path"));
        };
        path.push(name);
        let meta = std::fs::symlink_metadata(&path)?;
        let last = i + 1 == parts.len();
        if meta.file_type().is_symlink() {
            return Err(refused("it is a symbolic link"));
        }
        if !last && !meta.is_dir() {
            return Err(refused("a folder on its path is not a folder"));
        }
    }
    Ok(path)
}

fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

/// Moves the finished folder `new` to `target`, replacing any previous `target`. The old
/// folder is first moved into `scratch` (on the same filesystem), so a failure at any
/// point leaves either the old or the new folder at `target`, never a mix.
pub(crate) fn replace_dir(new: &Path, target: &Path, scratch: &Path) -> io::Result<()> {
    if target.symlink_metadata().is_err() {
        return std::fs::rename(new, target);
    }
    let old = scratch.join("previous-output");
    std::fs::rename(target, &old)?;
    if let Err(err) = std::fs::rename(new, target) {
        let _ = std::fs::rename(&old, target);
        return Err(err);
    }
    std::fs::remove_dir_all(&old)
}

/// Creates `dir` and its missing parents, returning the topmost folder it created (to be
/// removed again if the command fails).
pub(crate) fn create_dir_all_tracked(dir: &Path) -> io::Result<Option<PathBuf>> {
    let mut first_missing = None;
    let mut cursor = Some(dir);
    while let Some(path) = cursor {
        if path.exists() {
            break;
        }
        first_missing = Some(path.to_path_buf());
        cursor = path.parent();
    }
    std::fs::create_dir_all(dir)?;
    Ok(first_missing)
}

/// An absolute, normalized path (symlinks resolved where the path exists), like Python's
/// `Path.resolve()`.
pub fn resolve(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if let Ok(real) = absolute.canonicalize() {
        return real;
    }
    // Resolve the longest existing prefix, then append the rest lexically.
    let mut existing = absolute.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for part in rest.into_iter().rev() {
        if part == ".." {
            out.pop();
        } else if part != "." {
            out.push(part);
        }
    }
    out
}

/// Writes `bytes` to `path` through a temporary file beside it and one rename, so readers
/// see the old file or the new one, never half of one. Mode 0644.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Declared first, dropped last: a signal's exit waits until the temporary file is
    // renamed or removed.
    let _hold = crate::interrupt::hold();
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    io::Write::write_all(&mut temp, bytes)?;
    // The temporary file is 0600; what we write is not secret (`helm package` writes 0644).
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o644))?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Relative paths (slash-separated) of the regular files under `dir`, sorted.
pub(crate) fn walk_files(dir: &Path) -> io::Result<Vec<String>> {
    let mut files: Vec<String> = walk(dir, &|_| false)?
        .into_iter()
        .filter(|e| e.kind == Kind::File)
        .map(|e| e.rel)
        .collect();
    files.sort();
    Ok(files)
}

/// Runs `build(work, temp)` to fill the new folder `work` inside a temporary folder `temp`
/// beside `output`, then moves `work` to `output` in one rename. On error, the temporary
/// folder and any parent folders created for `output` are removed again.
pub(crate) fn build_dir_atomically<T>(
    output: &Path,
    build: impl FnOnce(&Path, &Path) -> crate::error::Result<T>,
) -> crate::error::Result<T> {
    let parent_dir = output.parent().ok_or_else(|| {
        crate::error::Error::invalid_args(
            format!("Output path has no parent: {}", output.display()),
            "Choose a directory path.",
        )
    })?;
    let created = create_dir_all_tracked(parent_dir).map_err(|err| {
        crate::error::Error::invalid_args(
            format!(
                "Cannot create output parent directory: {}",
                parent_dir.display()
            ),
            format!("Check the path: {err}"),
        )
    })?;
    let result = (|| {
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        remove_stale_temp_dirs(parent_dir, &name);
        // 0700: the temporary folder holds private keys until it is moved into place.
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}.prepare-{}-", std::process::id()))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(parent_dir)
            .map_err(|e| {
                crate::error::Error::prepare_io("create a temporary folder in", parent_dir, e)
            })?;
        let work = temp.path().join(&name);
        let value = build(&work, temp.path())?;
        // A signal during the build leaves the old output in place; the temporary folder
        // is removed on the way out.
        crate::interrupt::check()?;
        replace_dir(&work, output, temp.path())
            .map_err(|e| crate::error::Error::prepare_io("move into place", output, e))?;
        Ok(value)
    })();
    if result.is_err() {
        if let Some(dir) = created {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

/// Removes `.<name>.prepare-<pid>-*` folders whose process is gone: a run killed before
/// it could clean up leaves one behind, with private keys inside.
fn remove_stale_temp_dirs(parent_dir: &Path, name: &str) {
    let prefix = format!(".{name}.prepare-");
    let Ok(entries) = std::fs::read_dir(parent_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && pid > 0 && !process_alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn process_alive(pid: i32) -> bool {
    // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
    // SAFETY: kill with signal 0 sends nothing and touches no memory.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
