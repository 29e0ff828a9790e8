//! Files the tool writes for itself: the marker that says "this folder is an output of
//! `helm nvflare prepare`", and (in `stage`) the stage record. Their names all start with
//! [`STATE_PREFIX`]; they are never taken from a kit, because a kit is untrusted input
//! and tool state decides what the tool deletes and replaces.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Every state file of the tool starts with this; prepare never copies such a file.
pub const STATE_PREFIX: &str = ".helm-nvflare-";
/// Written at the root of every prepared output (and of a prepared federation).
pub const MARKER_FILE: &str = ".helm-nvflare-output.json";
/// Written by `package <federation>` beside the archives: the ones it wrote, so that
/// `push <folder>` pushes exactly those and nothing else lying there.
pub const PACKAGES_FILE: &str = ".helm-nvflare-packages.json";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageList {
    /// Paths relative to the folder the list is in.
    pub archives: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    tool: String,
    version: String,
}

/// True for a file name the tool keeps its own state in.
pub(crate) fn is_state_file(name: &str) -> bool {
    name.starts_with(STATE_PREFIX)
}

/// Marks `dir` as an output of this tool.
pub(crate) fn write_marker(dir: &Path) -> std::io::Result<()> {
    let marker = Marker {
        tool: "helm-nvflare".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let text = serde_json::to_string_pretty(&marker).expect("a marker serializes") + "\n";
    std::fs::write(dir.join(MARKER_FILE), text)
}

/// True when `dir` is a folder this tool wrote (it carries the marker as a regular file).
pub(crate) fn is_output(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(MARKER_FILE)).is_ok_and(|m| m.is_file())
}

/// True when `dir` is an output of this tool, or a folder holding nothing but such outputs
/// (and temporary folders of interrupted runs): replacing something inside it destroys no
/// kit content. An empty folder is not ours: a kit may ship one (a server's `transfer/`).
pub(crate) fn holds_only_outputs(dir: &Path) -> bool {
    if is_output(dir) {
        return true;
    }
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return false;
    };
    if !meta.is_dir() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(dir).and_then(|e| e.collect::<std::io::Result<Vec<_>>>())
    else {
        return false;
    };
    !entries.is_empty()
        && entries.into_iter().all(|entry| {
            // A temporary folder of an interrupted run is ours too.
            let name = entry.file_name().to_string_lossy().into_owned();
            (name.starts_with('.') && name.contains(".prepare-"))
                || holds_only_outputs(&entry.path())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_recognised_by_their_marker_only() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("prepared/k8s");
        std::fs::create_dir_all(&out).unwrap();
        assert!(!is_output(&out));
        assert!(
            !holds_only_outputs(&out),
            "an empty folder may be the kit's own"
        );
        std::fs::write(out.join("x"), "kit file").unwrap();
        assert!(!holds_only_outputs(&root.path().join("prepared")));
        write_marker(&out).unwrap();
        assert!(is_output(&out));
        assert!(holds_only_outputs(&root.path().join("prepared")));
        assert!(is_state_file(MARKER_FILE));
        assert!(is_state_file(".helm-nvflare-stage.json"));
        assert!(!is_state_file("helm-nvflare.txt"));
    }
}
