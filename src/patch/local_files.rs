//! Small files of a prepared kit: the study-data (2.8) or study-runtime (2.9) template, and start scripts that only make
//! sense for a bare-metal run.

use std::path::Path;

use crate::error::{Error, Result};
use crate::kit::STUDY_DATA_YAML;
use crate::nvflare_version::NvflareVersion;
use crate::study_runtime::{self, STUDY_RUNTIME_YAML};

pub const DOCKER_START_SH: &str = "start_docker.sh";
const START_SCRIPTS: [&str; 5] = [
    "start.sh",
    "sub_start.sh",
    "stop_fl.sh",
    "docker.sh",
    DOCKER_START_SH,
];
/// NVFlare 2.9 also removes the Slurm runtime's scripts.
const SLURM_SCRIPTS: [&str; 2] = ["start_slurm.sh", "parent.slurm"];

pub const STUDY_DATA_TEMPLATE: &str =
    "# Study data mapping used by Docker and Kubernetes job launchers.
# Example:
# default:
#   training:
#     source: /data/training    # Docker: host path; K8s: PVC claim name
#     mode: ro                  # ro or rw
{}
";

/// Writes `local/study_data.yaml` unless the kit already has one.
pub(crate) fn ensure_study_data_template(kit_dir: &Path) -> Result<()> {
    let path = kit_dir.join("local").join(STUDY_DATA_YAML);
    if path.symlink_metadata().is_ok() {
        return Ok(());
    }
    std::fs::write(&path, STUDY_DATA_TEMPLATE).map_err(|e| Error::prepare_io("write", &path, e))
}

/// NVFlare 2.9: writes `local/study_runtime.yaml` unless the kit has it, or has a legacy
/// `study_data.yaml` (NVFlare 2.9 keeps reading that one, and the two must not coexist).
pub(crate) fn ensure_study_runtime_template(kit_dir: &Path) -> Result<()> {
    let local = kit_dir.join("local");
    let path = local.join(STUDY_RUNTIME_YAML);
    if path.symlink_metadata().is_ok() || local.join(STUDY_DATA_YAML).symlink_metadata().is_ok() {
        return Ok(());
    }
    std::fs::write(&path, study_runtime::TEMPLATE).map_err(|e| Error::prepare_io("write", &path, e))
}

/// Removes `startup/` start scripts, except those in `keep`.
pub(crate) fn remove_start_scripts(
    kit_dir: &Path,
    keep: &[&str],
    version: NvflareVersion,
) -> Result<()> {
    let slurm: &[&str] = if version >= NvflareVersion::V2_9 {
        &SLURM_SCRIPTS
    } else {
        &[]
    };
    for name in START_SCRIPTS
        .iter()
        .chain(slurm)
        .filter(|n| !keep.contains(n))
    {
        let path = kit_dir.join("startup").join(name);
        if path.symlink_metadata().is_ok() {
            std::fs::remove_file(&path).map_err(|e| Error::prepare_io("remove", &path, e))?;
        }
    }
    Ok(())
}
