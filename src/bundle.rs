//! `bundle` and `bundle push`: everything an air-gapped site installs, in one tar that
//! travels on whatever the site accepts (a disk, a transfer host): the site's chart
//! archives (with their `.prov`), the plugin's release archive when given, and every image
//! the site pulls as an OCI image layout. `bundle push` loads it into the site's registry.
//!
//! ```text
//! site.tar
//!   bundle.json                      what is in it
//!   charts/<n>/<chart>-<version>.tgz [.prov]
//!   plugin/<archive> [.prov]
//!   images/oci-layout, images/index.json, images/blobs/sha256/<hex>
//! ```
//!
//! A bundle is untrusted when it is pushed: only the paths above, as plain files and
//! folders, within a size cap; every image byte is checked against its digest by the copy.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Code, Error, Result};
use crate::image::ImageRef;
use crate::output::{Output, Report};
use crate::registry::copy::{Destination, MirroredImage, Platform, Session};
use crate::registry::layout::{LayoutSink, LayoutSource};
use crate::registry::RegistryAccess;

const MAX_ENTRIES: usize = 200_000;
pub const DEFAULT_MAX_BYTES: u64 = 64 << 30;

#[derive(Debug, Clone)]
pub struct BundleSettings {
    pub sources: Vec<PathBuf>,
    pub output: PathBuf,
    /// `package`'s output (signed archives); without it each prepared chart is packaged.
    pub charts: Option<PathBuf>,
    pub plugin: Option<PathBuf>,
    pub stage_image: String,
    pub platforms: Vec<Platform>,
    pub source_access: RegistryAccess,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundledImage {
    pub image: String,
    pub digest: String,
    pub used_by: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    pub bundle: PathBuf,
    pub images: Vec<BundledImage>,
    pub charts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    pub bytes: u64,
}

impl Report for BundleReport {
    fn text(&self) -> String {
        let rows: Vec<[String; 3]> = self
            .images
            .iter()
            .map(|i| {
                [
                    crate::terminal::escape(&i.image),
                    i.digest.clone(),
                    crate::terminal::escape(&i.used_by.join(", ")),
                ]
            })
            .collect();
        let mut out = crate::output::table(["IMAGE", "DIGEST", "USED BY"], &rows);
        for chart in &self.charts {
            out.push_str(&format!("\nchart: {}", crate::terminal::escape(chart)));
        }
        if let Some(plugin) = &self.plugin {
            out.push_str(&format!("\nplugin: {}", crate::terminal::escape(plugin)));
        }
        let size = if self.bytes >= 1 << 20 {
            format!("{} MiB", self.bytes >> 20)
        } else {
            format!("{} KiB", self.bytes.div_ceil(1024))
        };
        out.push_str(&format!("\nbundle: {} ({size})", self.bundle.display()));
        out
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(
        Code::InvalidArgs,
        format!("Cannot write {}: {e}", path.display()),
        "Choose a writable -o/--output.",
    )
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to.parent().expect("a file in a folder")).map_err(|e| io(to, e))?;
    std::fs::copy(from, to).map(|_| ()).map_err(|e| io(to, e))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn bundle(settings: &BundleSettings, out: &Output) -> Result<BundleReport> {
    let output = &settings.output;
    let parent = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let work = tempfile::Builder::new()
        .prefix(".helm-nvflare-bundle-")
        .tempdir_in(parent)
        .map_err(|e| io(output, e))?;
    let root = work.path();

    // Charts: the operator's packaged (signed) archives, or each prepared chart packaged.
    let mut charts = Vec::new();
    let archives = match &settings.charts {
        Some(dir) => crate::registry::expand_archives(std::slice::from_ref(dir))?,
        None => {
            let mut packaged = Vec::new();
            for source in &settings.sources {
                for target in crate::targets::resolve(
                    source,
                    None,
                    &crate::targets::CommandDefaults::default(),
                )? {
                    let dest = root.join("packaged").join(&target.kit.release);
                    let done = crate::package::package(&crate::package::PackageSettings {
                        source: target.kit.dir.clone(),
                        versions: Default::default(),
                        destination: Some(dest),
                        sign: None,
                    })?;
                    packaged.push(done.archive);
                }
            }
            packaged
        }
    };
    for (n, archive) in archives.iter().enumerate() {
        crate::registry::ChartArchive::read(archive)?;
        let dest = root
            .join("bundle/charts")
            .join(n.to_string())
            .join(file_name(archive));
        copy_file(archive, &dest)?;
        let prov = crate::provenance::prov_path(archive);
        if prov.is_file() {
            copy_file(&prov, &crate::provenance::prov_path(&dest))?;
        }
        charts.push(format!("charts/{n}/{}", file_name(archive)));
    }
    let plugin = match &settings.plugin {
        Some(path) => {
            crate::registry::plugin::PluginArchive::read(path)?;
            copy_file(path, &root.join("bundle/plugin").join(file_name(path)))?;
            let prov = crate::provenance::prov_path(path);
            if prov.is_file() {
                copy_file(&prov, &root.join("bundle/plugin").join(file_name(&prov)))?;
            }
            Some(file_name(path))
        }
        None => None,
    };

    // Images, as an OCI layout.
    let uses = crate::site_images::uses(&settings.sources, &settings.stage_image)?;
    let mut sink = LayoutSink::create(&root.join("bundle/images"))?;
    let mut session = Session::new(
        settings.source_access.clone(),
        settings.source_access.clone(),
    );
    let mut images = Vec::new();
    for (n, (reference, used_by)) in uses.iter().enumerate() {
        let image = ImageRef::parse(reference).expect("checked when listed");
        let copied = session.copy_to(&image, &mut sink, &settings.platforms, &|m| out.status(m))?;
        sink.record(reference);
        out.progress(n + 1, uses.len(), "images bundled");
        images.push(BundledImage {
            image: reference.clone(),
            digest: copied.digest,
            used_by: used_by.clone(),
        });
    }
    sink.finish()?;
    let manifest =
        serde_json::json!({"format": 1, "charts": charts, "plugin": plugin, "images": images});
    std::fs::write(
        root.join("bundle/bundle.json"),
        serde_json::to_vec_pretty(&manifest).expect("JSON serializes"),
    )
    .map_err(|e| io(output, e))?;

    // The tar: sorted, fixed times and modes, written beside the output and moved in.
    let temp = tempfile::NamedTempFile::new_in(parent).map_err(|e| io(output, e))?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(temp.as_file()));
    let bundle_dir = root.join("bundle");
    for rel in crate::fs_tree::walk_files(&bundle_dir).map_err(|e| io(output, e))? {
        let path = bundle_dir.join(&rel);
        let mut header = tar::Header::new_gnu();
        let len = std::fs::metadata(&path).map_err(|e| io(&path, e))?.len();
        header.set_size(len);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        let file = std::fs::File::open(&path).map_err(|e| io(&path, e))?;
        builder
            .append_data(&mut header, &rel, file)
            .map_err(|e| io(output, e))?;
    }
    builder
        .into_inner()
        .map_err(|e| io(output, e))?
        .into_inner()
        .map_err(|e| io(output, e.error()))?
        .sync_all()
        .map_err(|e| io(output, e))?;
    let bytes = temp.as_file().metadata().map_err(|e| io(output, e))?.len();
    temp.persist(output).map_err(|e| io(output, e.error))?;
    Ok(BundleReport {
        bundle: output.clone(),
        images,
        charts,
        plugin,
        bytes,
    })
}

#[derive(Debug, Clone)]
pub struct BundlePushSettings {
    pub bundle: PathBuf,
    /// `oci://HOST[:PORT]/PATH`: images under `<PATH>/<repository path>`, charts under
    /// `<PATH>/<participant>/<chart>`, the plugin under `<PATH>`.
    pub to: String,
    pub mirror_access: RegistryAccess,
    pub max_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundlePushReport {
    pub images: Vec<MirroredImage>,
    pub charts: Vec<crate::registry::Pushed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<crate::registry::plugin::PushedPlugin>,
}

impl Report for BundlePushReport {
    fn exit_code(&self) -> i32 {
        crate::output::rows_exit_code(self.images.iter().map(|i| i.error.as_ref()))
    }

    fn text(&self) -> String {
        let rows: Vec<[String; 3]> = self
            .images
            .iter()
            .map(|i| {
                [
                    crate::terminal::escape(&i.destination),
                    i.digest.clone().unwrap_or_else(|| "-".into()),
                    format!("{:?}", i.status).to_lowercase(),
                ]
            })
            .collect();
        let mut out = crate::output::table(["IMAGE", "DIGEST", "STATUS"], &rows);
        for c in &self.charts {
            out.push_str(&format!(
                "\nchart: {}",
                crate::terminal::escape(&c.reference)
            ));
        }
        if let Some(p) = &self.plugin {
            out.push_str(&format!(
                "\nplugin: {}",
                crate::terminal::escape(&p.reference)
            ));
        }
        out.push_str(&crate::output::failures(
            self.images
                .iter()
                .map(|i| (i.source.as_str(), i.error.as_ref())),
        ));
        out
    }
}

fn invalid(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::new(
        Code::InvalidArchive,
        format!(
            "{} is not a bundle helm-nvflare can push: {why}; nothing was pushed.",
            path.display()
        ),
        "Give the file `helm nvflare bundle` wrote, unchanged.",
    )
}

/// Whether `rel` is a path a bundle holds.
fn allowed(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let plain = |p: &str| crate::names::is_path_component(p);
    match parts.as_slice() {
        ["bundle.json"] | ["images", "oci-layout"] | ["images", "index.json"] => true,
        ["images", "blobs", "sha256", hex] => {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }
        ["charts", n, file] => {
            n.bytes().all(|b| b.is_ascii_digit())
                && plain(file)
                && (file.ends_with(".tgz") || file.ends_with(".tgz.prov"))
        }
        ["plugin", file] => plain(file),
        _ => false,
    }
}

/// Unpacks the bundle into `into`, every entry checked first.
fn unpack(path: &Path, into: &Path, max_bytes: u64) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| invalid(path, e))?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut total: u64 = 0;
    let mut count = 0;
    for entry in archive.entries().map_err(|e| invalid(path, e))? {
        let mut entry = entry.map_err(|e| invalid(path, e))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(invalid(
                path,
                format!("it has more than {MAX_ENTRIES} entries"),
            ));
        }
        let raw = entry.path_bytes().into_owned();
        let rel = String::from_utf8_lossy(&raw)
            .trim_start_matches("./")
            .to_string();
        match entry.header().entry_type() {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            _ => {
                return Err(invalid(
                    path,
                    format!("{} is not a plain file", crate::terminal::escape(&rel)),
                ))
            }
        }
        if !allowed(&rel) {
            return Err(invalid(
                path,
                format!(
                    "it holds {}, which no bundle has",
                    crate::terminal::escape(&rel)
                ),
            ));
        }
        let size = entry.header().size().unwrap_or(u64::MAX);
        total = total.saturating_add(size);
        if total > max_bytes {
            return Err(invalid(
                path,
                format!(
                    "it unpacks to more than {} MiB (--max-size)",
                    max_bytes >> 20
                ),
            ));
        }
        let dest = into.join(&rel);
        std::fs::create_dir_all(dest.parent().expect("an entry in a folder"))
            .map_err(|e| invalid(path, e))?;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&dest)
            .map_err(|e| invalid(path, format!("{}: {e}", crate::terminal::escape(&rel))))?;
        let n = std::io::copy(&mut std::io::Read::take(&mut entry, size), &mut out)
            .map_err(|e| invalid(path, e))?;
        if n != size {
            return Err(invalid(path, "it ends inside a file"));
        }
    }
    Ok(())
}

pub fn push(settings: &BundlePushSettings, out: &Output) -> Result<BundlePushReport> {
    let root = crate::image::mirror_root(&settings.to)?;
    let scratch = tempfile::tempdir().map_err(|e| invalid(&settings.bundle, e))?;
    unpack(&settings.bundle, scratch.path(), settings.max_bytes)?;
    let dir = scratch.path();
    if !dir.join("bundle.json").is_file() {
        return Err(invalid(&settings.bundle, "it has no bundle.json"));
    }
    let mut layout = LayoutSource::open(&dir.join("images"))?;
    let (host, path) = crate::image::split_mirror(&root);
    let mut session = Session::new(
        settings.mirror_access.clone(),
        settings.mirror_access.clone(),
    );
    let mut images = Vec::new();
    let references = layout.references();
    for (n, reference) in references.iter().enumerate() {
        let image = ImageRef::parse(reference).map_err(|why| {
            invalid(
                &settings.bundle,
                format!(
                    "its index names {}: {why}",
                    crate::terminal::escape(reference)
                ),
            )
        })?;
        let (_, repo) = image.registry_and_path();
        let dest = Destination {
            host: host.clone(),
            repository: format!("{path}/{repo}"),
        };
        layout.ref_name = reference.clone();
        let mut row =
            MirroredImage::new(reference, &image.in_mirror(&root).to_string(), Vec::new());
        match session.copy_from(&mut layout, &image, &dest, &[], &|m| out.status(m)) {
            Ok(c) => row.record(c),
            Err(e) if e.code == Code::Interrupted => return Err(e),
            Err(e) => row.error = Some(e.into()),
        }
        out.progress(n + 1, references.len(), "images pushed");
        images.push(row);
    }
    let mut report = BundlePushReport {
        images,
        charts: Vec::new(),
        plugin: None,
    };
    if report.exit_code() != 0 {
        return Ok(report);
    }
    let archives = crate::fs_tree::walk_files(&dir.join("charts")).unwrap_or_default();
    let archives: Vec<PathBuf> = archives
        .iter()
        .filter(|r| r.ends_with(".tgz"))
        .map(|r| dir.join("charts").join(r))
        .collect();
    if !archives.is_empty() {
        let pushed = crate::registry::push(
            &crate::registry::PushSettings {
                archives,
                remote: settings.to.clone(),
                access: settings.mirror_access.clone(),
                default_namespace: "nvflare".into(),
            },
            out,
        )?;
        report.charts = pushed.charts;
    }
    let plugins: Vec<String> = crate::fs_tree::walk_files(&dir.join("plugin")).unwrap_or_default();
    if let Some(plugin) = plugins.iter().find(|p| !p.ends_with(".prov")) {
        report.plugin = Some(crate::registry::plugin::push_plugin(
            &dir.join("plugin").join(plugin),
            &settings.to,
            &settings.mirror_access,
        )?);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_bundles_paths() {
        for ok in [
            "bundle.json",
            "images/index.json",
            "images/oci-layout",
            "charts/0/nvflare-client-0.1.0.tgz",
            "charts/12/x-1.0.0.tgz.prov",
            "plugin/helm-nvflare.tgz",
        ] {
            assert!(super::allowed(ok), "{ok}");
        }
        let hex = "a".repeat(64);
        assert!(super::allowed(&format!("images/blobs/sha256/{hex}")));
        for bad in [
            "../x",
            "images/blobs/sha256/../../x",
            "charts/a/x.tgz",
            "charts/0/x.sh",
            "bundle.json/x",
            "/etc/passwd",
            "images/blobs/sha512/ab",
            "plugin/..",
            &format!("images/blobs/sha256/{}", "A".repeat(64)),
        ] {
            assert!(!super::allowed(bad), "{bad}");
        }
    }
}
