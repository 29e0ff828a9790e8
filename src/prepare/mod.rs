//! `prepare`: validate a kit and a runtime config, then write the prepared kit (patched
//! `local/` and `startup/`, plus a Helm chart or a Docker start script).
//!
//! Nothing is written until every input check has passed, the work happens in a temporary
//! folder beside the output, and the result replaces the output in one rename: on any
//! error the previous output is untouched and no new output appears.

mod checks;
mod docker;
mod k8s;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::chart;
use crate::docker_script;
use crate::error::{Code, Error, Result};
use crate::fs_tree;
use crate::kit::{self, KitInfo, Role, RESOURCES_JSON_DEFAULT};
use crate::nvflare_version::{self, NvflareVersion, VersionSource};
use crate::parent_process::server_ports;
use crate::patch::{comm_config, local_files, resources, Warnings};
use crate::prepared::marker;
use crate::runtime_config::{
    self, DockerConfig, K8sConfig, PendingTimeout, Runtime, RuntimeConfig, WORKSPACE_MOUNT_PATH,
};
use crate::shell_quote::quote;

use checks::check_package_runtime;
pub(crate) use checks::{check_kit, check_output, kit_entries, resolve_output};
use docker::prepare_docker;
use k8s::prepare_k8s;

#[derive(Debug, Clone)]
pub struct PrepareSettings {
    /// A kit, or a `prod_NN/` folder of kits.
    pub kit: PathBuf,
    /// Defaults to `<kit>/config.yaml`.
    pub config: Option<PathBuf>,
    /// Defaults to `<kit>/prepared/<runtime>`.
    pub output: Option<PathBuf>,
    /// `--package`: also write the chart archive, with these versions.
    pub package: Option<crate::package::ChartVersions>,
    /// `--package --sign`: the key that signs the archive into `<archive>.prov`.
    pub sign: Option<std::sync::Arc<crate::provenance::SigningKey>>,
    /// `--nvflare-version`: the NVFlare release whose layout to write.
    pub nvflare_version: Option<NvflareVersion>,
    /// `--allow-job-pod-grants`: accept a kit whose job pod templates grant more than the
    /// launcher gives (they are shown as warnings instead).
    pub allow_job_pod_grants: bool,
    /// `--image-mirror HOST[:PORT]/PATH`: the parent and job images from a filled mirror.
    pub image_mirror: Option<String>,
}

/// The NVFlare release a run prepares for, and how it was chosen.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub nvflare_version: NvflareVersion,
    #[serde(rename = "nvflare_version_from")]
    pub source: VersionSource,
    /// Why the choice may surprise (an image tag of an unknown release).
    #[serde(skip)]
    pub warnings: Warnings,
    /// Whether the operator lets kits' job pod templates grant more than the launcher
    /// gives (`--allow-job-pod-grants`).
    #[serde(skip)]
    pub allow_job_pod_grants: bool,
    /// `--image-mirror`: where the site's images come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_mirror: Option<String>,
}

/// Prepares one kit (and packages its chart into the output with `settings.package`).
/// Every check, the version flags' included, runs before anything is written.
pub fn prepare(settings: &PrepareSettings) -> Result<Prepared> {
    if let Some(versions) = &settings.package {
        versions.check()?;
    }
    let plan = plan(settings)?;
    let mut prepared = write(&plan)?;
    if let Some(versions) = &settings.package {
        let packaged = crate::package::package(&crate::package::PackageSettings {
            source: plan.output.clone(),
            versions: versions.clone(),
            destination: Some(plan.output.clone()),
            sign: settings.sign.clone(),
        })?;
        prepared.set_package(&packaged);
    }
    Ok(prepared)
}

/// What `prepare` wrote, and the commands to use it.
#[derive(Debug, Clone, Serialize)]
pub struct Prepared {
    pub runtime: Runtime,
    pub role: Role,
    pub name: String,
    #[serde(flatten)]
    pub layout: Layout,
    #[serde(flatten)]
    pub runtime_details: RuntimeDetails,
    /// The chart archive, with `--package`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The archive's `.prov`, with `--sign`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Warnings,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RuntimeDetails {
    K8s {
        namespace: String,
        output: PathBuf,
        helm_chart: PathBuf,
        /// `helm upgrade --install <release> <chart> --namespace <ns>`, shell-quoted.
        helm_command: String,
        resources: PathBuf,
        release: String,
        service: String,
    },
    Docker {
        output: PathBuf,
        start_command: String,
        start_script: PathBuf,
        resources: PathBuf,
    },
}

impl Prepared {
    pub fn output(&self) -> &Path {
        match &self.runtime_details {
            RuntimeDetails::K8s { output, .. } | RuntimeDetails::Docker { output, .. } => output,
        }
    }

    pub fn release(&self) -> Option<&str> {
        match &self.runtime_details {
            RuntimeDetails::K8s { release, .. } => Some(release),
            RuntimeDetails::Docker { .. } => None,
        }
    }

    /// The chart, for a Kubernetes prepare.
    pub fn helm_chart(&self) -> Option<&Path> {
        match &self.runtime_details {
            RuntimeDetails::K8s { helm_chart, .. } => Some(helm_chart),
            RuntimeDetails::Docker { .. } => None,
        }
    }

    /// Where a chart archive went (`--package`).
    pub(crate) fn set_package(&mut self, packaged: &crate::package::Packaged) {
        self.package = Some(packaged.archive.clone());
        self.sha256 = Some(packaged.sha256.clone());
        self.provenance = packaged.provenance.clone();
    }
}

impl crate::output::Report for Prepared {
    /// `key: value` lines; warnings went to stderr already.
    fn text(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("warnings");
            return crate::output::key_value_lines(map);
        }
        String::new()
    }
}

/// A kit and config that passed every check, ready to be written.
#[derive(Debug, Clone)]
pub struct Plan {
    pub kit: KitInfo,
    pub config: RuntimeConfig,
    pub layout: Layout,
    pub output: PathBuf,
}

/// The runtime config a run uses (`--config`, or `<kit>/config.yaml`), and the NVFlare
/// release to prepare for.
pub(crate) fn load_config(
    settings: &PrepareSettings,
    kit_dir: &Path,
) -> Result<(RuntimeConfig, Layout)> {
    let config_path = settings
        .config
        .as_deref()
        .map(fs_tree::resolve)
        .unwrap_or_else(|| kit_dir.join("config.yaml"));
    let mut config = runtime_config::load(&config_path)?;
    check_package_runtime(settings, &config)?;
    if let Some(mirror) = &settings.image_mirror {
        crate::image::check_mirror(mirror).map_err(|why| {
            Error::invalid_args(
                format!("--image-mirror: {why}."),
                "Give the mirror as `mirror`'s --to without oci://, e.g. registry.hospital.local:5000/fl-mirror.",
            )
        })?;
        config.in_mirror(mirror);
    }
    let mut warnings = Warnings::new();
    let (version, source) = nvflare_version::resolve(
        settings.nvflare_version,
        config.nvflare_version(),
        &config.image_tag(),
        &mut warnings,
    );
    config.check_for(version)?;
    let layout = Layout {
        nvflare_version: version,
        source,
        warnings,
        allow_job_pod_grants: settings.allow_job_pod_grants,
        image_mirror: settings.image_mirror.clone(),
    };
    Ok((config, layout))
}

/// Runs every check `prepare` makes, without writing anything.
pub fn plan(settings: &PrepareSettings) -> Result<Plan> {
    let kit_dir = fs_tree::resolve(&settings.kit);
    let (config, layout) = load_config(settings, &kit_dir)?;
    let output = resolve_output(settings, &kit_dir, &config);
    check_kit(&kit_dir, config, layout, output)
}

/// Writes a checked plan: copy the kit beside the output, patch the copy, swap it in.
pub fn write(plan: &Plan) -> Result<Prepared> {
    fs_tree::build_dir_atomically(&plan.output, |work, temp| build(plan, work, temp))
}

/// Copies the kit into the new folder `work` and patches it there; the result describes
/// it at its final place, `plan.output`. `temp` is excluded from the copy.
pub fn build(plan: &Plan, work: &Path, temp: &Path) -> Result<Prepared> {
    let output = &plan.output;
    let kit_dir = &plan.kit.dir;
    let entries: Vec<fs_tree::Entry> = kit_entries(kit_dir, output)?
        .into_iter()
        .filter(|e| !e.path.starts_with(temp))
        .collect();
    fs_tree::copy_entries(kit_dir, work, &entries).map_err(|err| {
        Error::new(
            Code::DeployPrepareFailed,
            format!("Failed to prepare deployment: cannot copy the kit: {err}"),
            "Check the kit and runtime config.",
        )
    })?;
    let mut warnings = plan.layout.warnings.clone();
    let version = plan.layout.nvflare_version;
    let runtime_details = match &plan.config {
        RuntimeConfig::K8s(config) => {
            prepare_k8s(&plan.kit, work, output, config, version, &mut warnings)?
        }
        RuntimeConfig::Docker(config) => {
            prepare_docker(&plan.kit, work, output, config, version, &mut warnings)?
        }
    };
    if let Some(mirror) = &plan.layout.image_mirror {
        mirror_job_images(work, mirror)?;
    }
    marker::write_marker(work).map_err(|e| Error::prepare_io("write", work, e))?;
    Ok(Prepared {
        runtime: plan.config.runtime(),
        role: plan.kit.role,
        name: plan.kit.name.clone(),
        layout: plan.layout.clone(),
        runtime_details,
        package: None,
        sha256: None,
        provenance: None,
        warnings,
    })
}

/// Where the prepared kit's resources.json.default will be, for the summary.
fn resources_path(output: &Path) -> PathBuf {
    output.join("local").join(RESOURCES_JSON_DEFAULT)
}

/// The per-study file of the release: study_data.yaml (2.8) or study_runtime.yaml (2.9).
fn ensure_study_template(work: &Path, version: NvflareVersion) -> Result<()> {
    match version {
        NvflareVersion::V2_8 => local_files::ensure_study_data_template(work),
        NvflareVersion::V2_9 => local_files::ensure_study_runtime_template(work),
    }
}

/// `--image-mirror`: each study's job image in `local/study_runtime.yaml` from the mirror.
fn mirror_job_images(work: &Path, mirror: &str) -> Result<()> {
    let path = work
        .join("local")
        .join(crate::study_runtime::STUDY_RUNTIME_YAML);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let comment =
        format!("Job images from the mirror {mirror} (helm nvflare prepare --image-mirror).");
    let in_mirror = |image: &str| {
        let parsed = crate::image::ImageRef::parse(image).ok()?;
        Some(parsed.in_mirror(mirror).to_string())
    };
    if let Some((text, _)) = crate::study_runtime::with_job_images(&text, &comment, &in_mirror) {
        std::fs::write(&path, text).map_err(|e| Error::prepare_io("write", &path, e))?;
    }
    Ok(())
}
