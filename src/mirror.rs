//! `mirror`: every image a site pulls (or the images named), copied by digest to the
//! site's own registry under `<PATH>/<repository path>`, keeping each tag; with
//! `rewrite`, the prepared kits then point at the mirror, pinned by digest. The copy
//! itself is `registry/copy.rs`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Code, Error, Result};
use crate::image::ImageRef;
use crate::output::{Output, Report};
use crate::registry::copy::{Destination, MirroredImage, Platform, Session};
use crate::registry::RegistryAccess;

#[derive(Debug, Clone)]
pub struct MirrorSettings {
    /// Prepared kits, federations, or image references.
    pub sources: Vec<String>,
    /// `oci://HOST[:PORT]/PATH`.
    pub to: String,
    pub platforms: Vec<Platform>,
    pub stage_image: String,
    pub rewrite: bool,
    /// TLS for the source registries (their logins come from the stored ones).
    pub source_access: RegistryAccess,
    /// TLS and login for the mirror, as for push.
    pub mirror_access: RegistryAccess,
}

/// A prepared kit pointed at the mirror.
#[derive(Debug, Clone, Serialize)]
pub struct Rewritten {
    pub kit: PathBuf,
    /// `values.yaml`'s image, now.
    pub image: String,
    /// Job images rewritten in `local/study_runtime.yaml`.
    pub job_images: usize,
    /// `required` (what is staged differs now), `still valid`, or `not staged`.
    pub staging: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct MirrorReport {
    pub mirror: String,
    pub images: Vec<MirroredImage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rewritten: Vec<Rewritten>,
}

impl Report for MirrorReport {
    fn exit_code(&self) -> i32 {
        crate::output::rows_exit_code(self.images.iter().map(|i| i.error.as_ref()))
    }

    fn text(&self) -> String {
        let esc = crate::terminal::escape;
        let rows: Vec<[String; 4]> = self
            .images
            .iter()
            .map(|i| {
                [
                    esc(&i.source),
                    esc(&i.destination),
                    i.digest.clone().unwrap_or_else(|| "-".into()),
                    format!("{:?}", i.status).to_lowercase(),
                ]
            })
            .collect();
        let mut out = crate::output::table(["SOURCE", "DESTINATION", "DIGEST", "STATUS"], &rows);
        for r in &self.rewritten {
            let staging = match r.staging {
                "required" => "stage it again (deploy does): the staged local/ changed",
                "still valid" => "what is staged is still this kit's",
                _ => "not staged yet",
            };
            out.push_str(&format!(
                "\nrewrote {}: image {}, {} job image(s); {staging}",
                esc(&r.kit.display().to_string()),
                esc(&r.image),
                r.job_images,
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

pub fn mirror(settings: &MirrorSettings, out: &Output) -> Result<MirrorReport> {
    let root = crate::image::mirror_root(&settings.to)?;
    // Folders are prepared kits or federations; anything else must be an image reference.
    let (folders, named): (Vec<&String>, Vec<&String>) = settings
        .sources
        .iter()
        .partition(|s| Path::new(s.as_str()).is_dir());
    if settings.rewrite && folders.is_empty() {
        return Err(Error::invalid_args(
            "--rewrite points prepared kits at the mirror, but no prepared kit was given.",
            "Name the prepared kits (or federation) to mirror and rewrite.",
        ));
    }
    let mut entries: Vec<(String, Vec<String>)> = Vec::new();
    if !folders.is_empty() {
        let paths: Vec<PathBuf> = folders.iter().map(PathBuf::from).collect();
        entries = crate::site_images::uses(&paths, &settings.stage_image)?;
    }
    for image in named {
        ImageRef::parse(image).map_err(|why| {
            Error::invalid_args(
                format!("{} is neither a prepared kit nor an image reference: {why}.", crate::terminal::escape(image)),
                "Give prepared kits, a prepared federation, or images as [registry[:port]/]repository[:tag][@digest].",
            )
        })?;
        if !entries.iter().any(|(i, _)| i == image) {
            entries.push((image.clone(), Vec::new()));
        }
    }
    let (mirror_host, mirror_path) = crate::image::split_mirror(&root);
    let mut session = Session::new(
        settings.source_access.clone(),
        settings.mirror_access.clone(),
    );
    let total = entries.len();
    let mut images = Vec::new();
    for (n, (source, used_by)) in entries.iter().enumerate() {
        let image = ImageRef::parse(source).expect("checked when listed");
        let (_, path) = image.registry_and_path();
        let dest = Destination {
            host: mirror_host.clone(),
            repository: format!("{mirror_path}/{path}"),
        };
        let mut row =
            MirroredImage::new(source, &image.in_mirror(&root).to_string(), used_by.clone());
        match session.copy(&image, &dest, &settings.platforms, &|m| out.status(m)) {
            Ok(c) => row.record(c),
            Err(e) if e.code == Code::Interrupted => return Err(e),
            Err(e) => row.error = Some(e.into()),
        }
        out.progress(
            n + 1,
            total,
            &format!("images mirrored ({})", crate::terminal::escape(source)),
        );
        images.push(row);
    }
    let mut report = MirrorReport {
        mirror: root.clone(),
        images,
        rewritten: Vec::new(),
    };
    if settings.rewrite && report.exit_code() == 0 {
        let paths: Vec<PathBuf> = folders.iter().map(PathBuf::from).collect();
        report.rewritten = rewrite(&paths, &root, &report.images)?;
    }
    Ok(report)
}

/// Points every prepared kit at the mirror, pinned by digest: the chart's image and the
/// study job images. Every new file is made first; only then is each written (each file
/// atomically), so a kit that cannot be rewritten leaves every kit as it was.
fn rewrite(sources: &[PathBuf], root: &str, images: &[MirroredImage]) -> Result<Vec<Rewritten>> {
    let pinned = |reference: &str| -> Option<ImageRef> {
        let row = images.iter().find(|i| i.source == reference)?;
        let image = ImageRef::parse(reference).ok()?;
        Some(ImageRef {
            digest: row.digest.clone()?,
            ..image.in_mirror(root)
        })
    };
    let mut writes: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    let mut rewritten = Vec::new();
    for source in sources {
        for target in
            crate::targets::resolve(source, None, &crate::targets::CommandDefaults::default())?
        {
            let kit = &target.kit;
            let v = &kit.values.image;
            let parent = ImageRef {
                repository: v.repository.clone(),
                tag: v.tag.clone(),
                digest: v.digest.clone(),
            };
            let new_parent = pinned(&parent.to_string()).ok_or_else(|| {
                Error::new(
                    Code::RegistryError,
                    format!("{parent} was not mirrored"),
                    "Mirror again.",
                )
            })?;
            let values_path = kit.dir.join(crate::chart::CHART_DIR).join("values.yaml");
            let text = std::fs::read_to_string(&values_path)
                .map_err(|e| crate::prepared::kit_io("read", &values_path, e))?;
            writes.push((
                values_path,
                values_with_image(&text, &new_parent).into_bytes(),
            ));
            let mut jobs = 0;
            let study_path = kit
                .dir
                .join("local")
                .join(crate::study_runtime::STUDY_RUNTIME_YAML);
            if let Some((text, n)) = study_runtime_with_images(&study_path, &pinned) {
                writes.push((study_path, text.into_bytes()));
                jobs = n;
            }
            let staging = match crate::prepared::stage_record::read(&kit.dir)? {
                None => "not staged",
                Some(_) if jobs > 0 => "required",
                Some(_) => "still valid",
            };
            rewritten.push(Rewritten {
                kit: kit.dir.clone(),
                image: new_parent.to_string(),
                job_images: jobs,
                staging,
            });
        }
    }
    for (path, bytes) in writes {
        crate::fs_tree::write_atomically(&path, &bytes)
            .map_err(|e| crate::prepared::kit_io("write", &path, e))?;
    }
    Ok(rewritten)
}

/// values.yaml with `image.repository`, `image.tag` and `image.digest` set to `image`:
/// the three lines of the `image:` block `prepare` writes, nothing else touched.
fn values_with_image(text: &str, image: &ImageRef) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("strings serialize");
    let mut out = String::new();
    let mut in_image = false;
    for line in text.split_inclusive('\n') {
        if !line.starts_with(' ') && !line.starts_with('#') && !line.trim().is_empty() {
            in_image = line.trim_end() == "image:";
        }
        let replaced = in_image.then(|| {
            let key = line.trim_start().split(':').next().unwrap_or("");
            let value = match key {
                "repository" => Some(&image.repository),
                "tag" => Some(&image.tag),
                "digest" => Some(&image.digest),
                _ => None,
            }?;
            line.starts_with("  ")
                .then(|| format!("  {key}: {}\n", quote(value)))
        });
        match replaced.flatten() {
            Some(l) => out.push_str(&l),
            None => out.push_str(line),
        }
    }
    out
}

/// `local/study_runtime.yaml` with each study's `container.image` from the mirror, and
/// how many; None when the kit has none (NVFlare 2.8) or none was mirrored.
fn study_runtime_with_images(
    path: &Path,
    pinned: &dyn Fn(&str) -> Option<ImageRef>,
) -> Option<(String, usize)> {
    let text = std::fs::read_to_string(path).ok()?;
    crate::study_runtime::with_job_images(
        &text,
        "Job images from the mirror, pinned by digest (helm nvflare mirror --rewrite).",
        &|image| pinned(image).map(|i| i.to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_everything_but_the_image() {
        let text = "name: \"s\"\nimage:\n  # comment\n  repository: \"r/nvflare\"\n  tag: \"2.9.0\"\n  digest: \"\"\n  pullPolicy: \"Always\"\nother:\n  repository: \"x\"\n";
        let image = ImageRef::parse("m:5000/mirror/r/nvflare:2.9.0@sha256:0000000000000000000000000000000000000000000000000000000000000000").unwrap();
        let new = values_with_image(text, &image);
        assert_eq!(
            new,
            "name: \"s\"\nimage:\n  # comment\n  repository: \"m:5000/mirror/r/nvflare\"\n  tag: \"2.9.0\"\n  digest: \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n  pullPolicy: \"Always\"\nother:\n  repository: \"x\"\n"
        );
    }
}
