//! `images`: every image a site's cluster pulls for its participants, and what uses it:
//! the parent (the chart's image), the jobs of each study (`container.image` in NVFlare
//! 2.9's `local/study_runtime.yaml`), and stage's helper pod. With `resolve`, each
//! image's digest from its registry, for an air-gapped site's mirror.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Brief, Result};
use crate::image::ImageRef;
use crate::output::Report;
use crate::registry::RegistryAccess;

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

pub fn images(settings: &ImagesSettings) -> Result<ImagesReport> {
    let entries = crate::site_images::uses(&settings.sources, &settings.stage_image)?;
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
