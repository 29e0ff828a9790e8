//! `images`: every image a site's cluster pulls for its participants, and what uses it:
//! the parent (the chart's image), the jobs of each study (`container.image` in NVFlare
//! 2.9's `local/study_runtime.yaml`), and stage's helper pod. With `resolve`, each
//! image's digest from its registry, for an air-gapped site's mirror.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::error::{Brief, Result};
use crate::image::ImageRef;
use crate::output::Report;
use crate::registry::RegistryAccess;
use crate::targets::{self, CommandDefaults};

#[derive(Debug, Clone)]
pub struct ImagesSettings {
    /// Prepared kits or federations.
    pub sources: Vec<PathBuf>,
    /// Stage's helper image.
    pub stage_image: String,
    /// Ask each image's registry for its digest.
    pub resolve: Option<RegistryAccess>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageUse {
    pub image: String,
    pub used_by: Vec<String>,
    /// From the registry (`--resolve`), or the reference's own pin.
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Brief>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImagesReport {
    pub images: Vec<ImageUse>,
}

impl Report for ImagesReport {
    /// 1 when an image could not be resolved.
    fn exit_code(&self) -> i32 {
        i32::from(self.images.iter().any(|i| i.error.is_some()))
    }

    fn text(&self) -> String {
        let rows: Vec<[String; 3]> = self
            .images
            .iter()
            .map(|i| {
                [
                    crate::terminal::escape(&i.image),
                    i.digest.clone().unwrap_or_else(|| "-".into()),
                    crate::terminal::escape(&i.used_by.join(", ")),
                ]
            })
            .collect();
        let mut out = crate::output::table(["IMAGE", "DIGEST", "USED BY"], &rows);
        out.push_str(&crate::output::failures(
            self.images
                .iter()
                .map(|i| (i.image.as_str(), i.error.as_ref())),
        ));
        out
    }
}

/// The job images of each study in `local/study_runtime.yaml` (read as kit content).
pub fn job_images(kit_dir: &Path) -> Vec<(String, String)> {
    let Ok(bytes) = crate::fs_tree::read_untrusted(
        &kit_dir.join("local"),
        Path::new(crate::study_runtime::STUDY_RUNTIME_YAML),
        1024 * 1024,
    ) else {
        return Vec::new();
    };
    let config: Value = serde_saphyr::from_str::<Option<Value>>(&String::from_utf8_lossy(&bytes))
        .ok()
        .flatten()
        .unwrap_or(Value::Null);
    config["studies"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(study, entry)| {
            let image = entry["container"]["image"].as_str()?;
            ImageRef::parse(image).ok()?;
            Some((study.clone(), image.to_string()))
        })
        .collect()
}

/// Every image the prepared kits or federations in `sources` pull, with what uses each,
/// the stage helper last among them; sorted by reference.
pub fn uses(sources: &[PathBuf], stage_image: &str) -> Result<Vec<(String, Vec<String>)>> {
    let mut uses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for source in sources {
        for target in targets::resolve(source, None, &CommandDefaults::default())? {
            let kit = &target.kit;
            let image = &kit.values.image;
            let parent = ImageRef {
                repository: image.repository.clone(),
                tag: image.tag.clone(),
                digest: image.digest.clone(),
            };
            uses.entry(parent.to_string())
                .or_default()
                .push(format!("the parent of {}", target.participant));
            for (study, image) in job_images(&kit.dir) {
                uses.entry(image).or_default().push(format!(
                    "the jobs of study {study} at {}",
                    target.participant
                ));
            }
        }
    }
    crate::image::ImageRef::parse(stage_image).map_err(|why| {
        crate::error::Error::invalid_args(
            format!("--stage-image is not a valid image reference: {why}."),
            "Use [registry[:port]/]repository[:tag][@digest], e.g. busybox:1.36.",
        )
    })?;
    uses.entry(stage_image.to_string())
        .or_default()
        .push("the stage helper".into());
    Ok(uses.into_iter().collect())
}

pub fn images(settings: &ImagesSettings) -> Result<ImagesReport> {
    let entries = uses(&settings.sources, &settings.stage_image)?;
    let images = crate::parallel::map_per_core(&entries, |(image, used_by)| {
        let parsed = ImageRef::parse(image).expect("checked when read");
        let pinned = (!parsed.digest.is_empty()).then(|| parsed.digest.clone());
        let (digest, error) = match (&settings.resolve, pinned) {
            (_, Some(pin)) => (Some(pin), None),
            (None, None) => (None, None),
            (Some(access), None) => match crate::registry::resolve::digest(&parsed, access) {
                Ok(d) => (Some(d), None),
                Err(e) => (None, Some(e.into())),
            },
        };
        ImageUse {
            image: image.clone(),
            used_by: used_by.clone(),
            digest,
            error,
        }
    });
    Ok(ImagesReport { images })
}
