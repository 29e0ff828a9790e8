//! The images a site's cluster pulls for its prepared kits: the parent (the chart's image), the jobs of
//! each study (`container.image` in NVFlare 2.9's `local/study_runtime.yaml`, read as kit
//! content), and stage's helper pod. Read by `images`, `mirror` and `bundle`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Result;
use crate::image::ImageRef;
use crate::targets::{self, CommandDefaults};

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
