//! An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/…`), as a
//! [`Sink`] that `bundle` writes images into and a [`Source`] that `bundle push` reads
//! them from. Each image's top manifest is in `index.json` with its source reference as
//! `org.opencontainers.image.ref.name`. A layout from a bundle is untrusted: blobs are
//! read only by their hex name, never through a link, and every byte is checked by the
//! copy against its digest.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::copy::{Sink, Source, Start, OCI_INDEX};
use super::digest_is_sha256;
use crate::error::{Code, Error, Result};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const MAX_INDEX_BYTES: u64 = 4 << 20;
const MAX_MANIFEST_BYTES: u64 = 4 << 20;

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::new(
        Code::InvalidArgs,
        format!("Cannot use {}: {e}", path.display()),
        "Check the folder and free space.",
    )
}

/// The path of a blob in the layout at `dir`; None for a digest that is not sha256 hex.
fn blob_path(dir: &Path, digest: &str) -> Option<PathBuf> {
    digest_is_sha256(digest).then(|| dir.join("blobs/sha256").join(&digest["sha256:".len()..]))
}

/// A layout being written: blobs go straight in; `index.json` is written by [`Self::finish`].
pub struct LayoutSink {
    dir: PathBuf,
    entries: Vec<Value>,
    /// The manifest stored last: a copy stores an image's top manifest last.
    last: Option<Value>,
}

impl LayoutSink {
    pub fn create(dir: &Path) -> Result<LayoutSink> {
        std::fs::create_dir_all(dir.join("blobs/sha256")).map_err(|e| io_error(dir, e))?;
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(|e| io_error(dir, e))?;
        Ok(LayoutSink {
            dir: dir.to_path_buf(),
            entries: Vec::new(),
            last: None,
        })
    }

    /// Records the image just copied in `index.json`, under `ref_name`.
    pub fn record(&mut self, ref_name: &str) {
        if let Some(mut entry) = self.last.take() {
            entry["annotations"] = json!({REF_NAME: ref_name});
            self.entries
                .retain(|e| e["annotations"][REF_NAME] != ref_name);
            self.entries.push(entry);
        }
    }

    pub fn finish(self) -> Result<()> {
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.entries});
        let path = self.dir.join("index.json");
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&index).expect("JSON serializes"),
        )
        .map_err(|e| io_error(&path, e))
    }

    fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let path = blob_path(&self.dir, digest).expect("a digest we computed");
        std::fs::write(&path, bytes).map_err(|e| io_error(&path, e))
    }
}

impl Sink for LayoutSink {
    fn digest_of(&mut self, _tag: &str) -> Result<Option<String>> {
        Ok(None)
    }

    fn start_blob(&mut self, digest: &str) -> Result<Start> {
        let path = blob_path(&self.dir, digest).expect("checked descriptor");
        if path.is_file() {
            return Ok(Start::Present);
        }
        Ok(Start::Upload(path.display().to_string()))
    }

    fn send_blob(
        &mut self,
        upload: String,
        _digest: &str,
        _size: u64,
        body: &mut dyn Read,
    ) -> Result<()> {
        let path = PathBuf::from(upload);
        let dir = path.parent().expect("a blob path has a parent");
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| io_error(dir, e))?;
        std::io::copy(body, &mut temp).map_err(|e| io_error(&path, e))?;
        temp.flush().map_err(|e| io_error(&path, e))?;
        temp.persist(&path).map_err(|e| io_error(&path, e.error))?;
        Ok(())
    }

    fn put_manifest(&mut self, _reference: &str, bytes: &[u8], media_type: &str) -> Result<()> {
        let digest = super::digest(bytes);
        self.write_blob(&digest, bytes)?;
        self.last = Some(json!({"mediaType": media_type, "digest": digest, "size": bytes.len()}));
        Ok(())
    }
}

/// A layout being read, one image (by its recorded reference) at a time.
pub struct LayoutSource {
    dir: PathBuf,
    index: Vec<Value>,
    /// The reference whose tag [`Source::manifest`] looks up.
    pub ref_name: String,
}

impl LayoutSource {
    pub fn open(dir: &Path) -> Result<LayoutSource> {
        let path = dir.join("index.json");
        let bytes = read_file(&path, MAX_INDEX_BYTES)?;
        let index: Value = serde_json::from_slice(&bytes).map_err(|_| {
            Error::new(
                Code::InvalidArchive,
                format!("{} is not an OCI index.", path.display()),
                "Make the bundle again.",
            )
        })?;
        let entries = index["manifests"].as_array().cloned().unwrap_or_default();
        Ok(LayoutSource {
            dir: dir.to_path_buf(),
            index: entries,
            ref_name: String::new(),
        })
    }

    /// The references of the images in the layout.
    pub fn references(&self) -> Vec<String> {
        self.index
            .iter()
            .filter_map(|e| e["annotations"][REF_NAME].as_str().map(str::to_string))
            .collect()
    }
}

/// A regular file (never a link), at most `cap` bytes.
fn read_file(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| io_error(path, e))?;
    if !meta.is_file() || meta.len() > cap {
        return Err(Error::new(
            Code::InvalidArchive,
            format!("{} is not a file of at most {cap} bytes.", path.display()),
            "Make the bundle again.",
        ));
    }
    std::fs::read(path).map_err(|e| io_error(path, e))
}

impl Source for LayoutSource {
    fn manifest(&mut self, reference: &str) -> Result<Option<(Vec<u8>, String, Option<String>)>> {
        let digest = if reference.starts_with("sha256:") {
            reference.to_string()
        } else {
            let Some(entry) = self
                .index
                .iter()
                .find(|e| e["annotations"][REF_NAME] == self.ref_name.as_str())
            else {
                return Ok(None);
            };
            entry["digest"].as_str().unwrap_or_default().to_string()
        };
        let Some(path) = blob_path(&self.dir, &digest) else {
            return Ok(None);
        };
        if !path.exists() {
            return Ok(None);
        }
        let bytes = read_file(&path, MAX_MANIFEST_BYTES)?;
        Ok(Some((bytes, String::new(), Some(digest))))
    }

    fn blob(&mut self, digest: &str) -> Result<(Box<dyn Read + '_>, Option<u64>)> {
        let path = blob_path(&self.dir, digest).expect("checked descriptor");
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io_error(&path, e))?;
        if !meta.is_file() {
            return Err(Error::new(
                Code::InvalidArchive,
                format!("blob {digest} is not a file in the bundle."),
                "Make the bundle again.",
            ));
        }
        let file = std::fs::File::open(&path).map_err(|e| io_error(&path, e))?;
        Ok((Box::new(file), Some(meta.len())))
    }
}
