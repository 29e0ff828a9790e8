//! A fingerprint of what `stage` puts into the cluster: every file of the prepared kit's
//! `startup/` and `local/`, by path, mode and content. `stage` records it once staging
//! succeeded; `deploy` and `status` compare it with the kit as it is now (the same means
//! nothing to restage). Contents are hashed, never shown.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::fs_tree::{self, Kind};

/// `sha256:<hex>` over `startup/` and `local/` of the prepared kit `dir`.
pub fn of(dir: &Path) -> Result<String> {
    of_folders(dir, &["startup", "local"])
}

/// `sha256:<hex>` over the given folders of `dir` (deploy also fingerprints `helm_chart/`).
pub(crate) fn of_folders(dir: &Path, folders: &[&str]) -> Result<String> {
    let mut hasher = Sha256::new();
    for folder in folders.iter().copied() {
        let root = dir.join(folder);
        let entries =
            fs_tree::walk(&root, &|_| false).map_err(|e| super::kit_io("read", &root, e))?;
        for entry in entries {
            let mode = std::fs::symlink_metadata(&entry.path)
                .map_err(|e| super::kit_io("read", &entry.path, e))?
                .permissions()
                .mode();
            let kind = match entry.kind {
                Kind::File => "f",
                Kind::Dir => "d",
                // A link or special file is never staged; it still changes the fingerprint.
                Kind::Symlink | Kind::Special => "x",
            };
            hasher.update(format!(
                "{kind} {folder}/{} {:o}\n",
                entry.rel,
                mode & 0o7777
            ));
            if entry.kind == Kind::File {
                let mut file = std::fs::File::open(&entry.path)
                    .map_err(|e| super::kit_io("read", &entry.path, e))?;
                let mut content = Sha256::new();
                let mut buf = [0u8; 64 * 1024];
                loop {
                    let n = file
                        .read(&mut buf)
                        .map_err(|e| super::kit_io("read", &entry.path, e))?;
                    if n == 0 {
                        break;
                    }
                    content.update(&buf[..n]);
                }
                hasher.update(content.finalize());
            }
        }
    }
    Ok(format!("sha256:{}", hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn changes_with_content_and_mode_only() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["startup", "local"] {
            std::fs::create_dir(dir.path().join(f)).unwrap();
        }
        std::fs::write(dir.path().join("startup/a.json"), "{}").unwrap();
        let first = super::of(dir.path()).unwrap();
        assert_eq!(first, super::of(dir.path()).unwrap());
        std::fs::write(dir.path().join("helm_chart.txt"), "not staged").unwrap();
        assert_eq!(first, super::of(dir.path()).unwrap());
        std::fs::write(dir.path().join("startup/a.json"), "{ }").unwrap();
        let second = super::of(dir.path()).unwrap();
        assert_ne!(first, second);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("startup/a.json"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert_ne!(second, super::of(dir.path()).unwrap());
    }
}
