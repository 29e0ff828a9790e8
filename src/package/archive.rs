//! Writing a chart archive byte-reproducibly: entries in a fixed order, every header with
//! the same mode, owner and mtime, and a gzip header without time or file name. The bytes
//! depend only on the files' paths and contents.

use std::io::Write;

use flate2::{Compression, GzBuilder};

/// Builds the `.tgz` for `entries` (path inside the archive, contents), in the given order.
pub fn tgz(entries: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), Compression::default());
    let mut builder = tar::Builder::new(gz);
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, contents) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(contents.len() as u64);
        builder.append_data(&mut header, path, contents.as_slice())?;
    }
    let mut gz = builder.into_inner()?;
    gz.flush()?;
    gz.finish()
}

/// The order `helm package` writes: Chart.yaml, values.yaml, values.schema.json,
/// templates/, then everything else; within a group, the order of a depth-first walk with
/// names sorted at each level (so `docs/readme.md` comes before `docs.md`). Sort walk-ordered
/// entries stably by this key.
pub(crate) fn helm_group(rel: &str) -> u8 {
    match rel {
        "Chart.yaml" => 0,
        "values.yaml" => 1,
        "values.schema.json" => 2,
        r if r.starts_with("templates/") => 3,
        _ => 4,
    }
}
