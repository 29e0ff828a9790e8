//! Folder copies and swaps for writing outputs atomically: build in a temporary folder
//! beside the target, then move it into place in one rename.

use std::io;
use std::path::{Path, PathBuf};

/// Copies `src` into the new folder `dst`, keeping permission bits (a private key stays
/// 0600), following symlinks to files, and skipping every path in `exclude`.
pub fn copy_tree(src: &Path, dst: &Path, exclude: &[PathBuf]) -> io::Result<()> {
    std::fs::create_dir(dst)?;
    std::fs::set_permissions(dst, std::fs::metadata(src)?.permissions())?;
    let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let from = entry.path();
        if exclude.contains(&from) {
            continue;
        }
        let to = dst.join(entry.file_name());
        let meta = std::fs::metadata(&from).map_err(|e| with_path(e, &from))?;
        if meta.is_dir() {
            if entry.file_type()?.is_symlink() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is a symlink to a folder; copy the folder itself into the kit",
                        from.display()
                    ),
                ));
            }
            copy_tree(&from, &to, exclude)?;
        } else if meta.is_file() {
            std::fs::copy(&from, &to).map_err(|e| with_path(e, &from))?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file or folder", from.display()),
            ));
        }
    }
    Ok(())
}

fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

/// Moves the finished folder `new` to `target`, replacing any previous `target`. The old
/// folder is first moved into `scratch` (on the same filesystem), so a failure at any
/// point leaves either the old or the new folder at `target`, never a mix.
pub fn replace_dir(new: &Path, target: &Path, scratch: &Path) -> io::Result<()> {
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
pub fn create_dir_all_tracked(dir: &Path) -> io::Result<Option<PathBuf>> {
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

/// Relative paths (slash-separated) of the regular files under `dir`, sorted.
pub fn walk_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            match std::fs::metadata(entry.path()) {
                Ok(m) if m.is_dir() => stack.push((entry.path(), rel)),
                Ok(m) if m.is_file() => out.push(rel),
                _ => {}
            }
        }
    }
    out.sort();
    out
}
