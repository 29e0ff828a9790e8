//! `prepare`: validate a kit and a runtime config, then write the prepared kit (patched
//! `local/` and `startup/`, plus a Helm chart or a Docker start script).
//!
//! Nothing is written until every input check has passed, the work happens in a temporary
//! folder beside the output, and the result replaces the output in one rename: on any
//! error the previous output is untouched and no new output appears.

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

/// `--package` writes a chart archive: the docker runtime has no chart.
fn check_package_runtime(settings: &PrepareSettings, config: &RuntimeConfig) -> Result<()> {
    if settings.package.is_some() && config.runtime() != crate::runtime_config::Runtime::K8s {
        return Err(Error::invalid_args(
            "--package needs the k8s runtime: the docker runtime writes no chart.",
            "Drop --package.",
        ));
    }
    Ok(())
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
    pub fn set_package(&mut self, packaged: &crate::package::Packaged) {
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
pub fn load_config(settings: &PrepareSettings, kit_dir: &Path) -> Result<(RuntimeConfig, Layout)> {
    let config_path = settings
        .config
        .as_deref()
        .map(fs_tree::resolve)
        .unwrap_or_else(|| kit_dir.join("config.yaml"));
    let config = runtime_config::load(&config_path)?;
    check_package_runtime(settings, &config)?;
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

/// `--output`, or `<source>/prepared/<runtime>`.
pub fn resolve_output(
    settings: &PrepareSettings,
    source: &Path,
    config: &RuntimeConfig,
) -> PathBuf {
    settings
        .output
        .as_deref()
        .map(fs_tree::resolve)
        .unwrap_or_else(|| source.join("prepared").join(config.runtime().as_str()))
}

/// The output may be neither the input nor contain it, nor be a file. Inside the input
/// it may only be a new folder or an earlier output of this tool: never `startup/`,
/// `local/`, `transfer/` or anything else the kit already has. Outside the input, an
/// existing folder is replaced only when it is empty or an earlier output of this tool.
pub fn check_output(source: &Path, output: &Path) -> Result<()> {
    if output == source || source.starts_with(output) {
        return Err(Error::invalid_args(
            "--output must not be the same as --kit or contain it.",
            "Choose a prepared-kit directory outside the kit, or use the default <kit>/prepared/<runtime>.",
        ));
    }
    if output.exists() && !output.is_dir() {
        return Err(Error::invalid_args(
            format!(
                "Output path exists and is not a directory: {}",
                output.display()
            ),
            "Choose a directory path.",
        ));
    }
    if output
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(Error::invalid_args(
            format!("--output {} is a symbolic link.", output.display()),
            "Give the folder itself: prepare never writes through a link.",
        ));
    }
    if let Ok(inside) = output.strip_prefix(source) {
        let first = inside.components().next().map(|c| source.join(c));
        if let Some(meta) = first.as_ref().and_then(|f| f.symlink_metadata().ok()) {
            // The kit chose what this entry is: a link (to anywhere) or a file is refused.
            if meta.file_type().is_symlink() || !meta.is_dir() {
                return Err(Error::invalid_kit(
                    format!(
                        "{} is a link or a file, not a folder: prepare does not write through it.",
                        first
                            .as_ref()
                            .map(|f| f.display().to_string())
                            .unwrap_or_default()
                    ),
                    "Remove it from the kit, or give --output outside the kit.",
                ));
            }
        }
        if let Some(first) = first.filter(|f| f.symlink_metadata().is_ok()) {
            let seed_default = first == source.join("prepared") && is_empty_dir(&first);
            if !seed_default && !marker::holds_only_outputs(&first) {
                return Err(Error::invalid_args(
                    format!(
                        "--output {} would replace {} of the kit.",
                        output.display(),
                        first.display()
                    ),
                    "The kit is read-only: write the prepared kit outside it, into a new folder inside it, or use the default <kit>/prepared/<runtime>.",
                ));
            }
        }
    }
    if output.is_dir() && !is_empty_dir(output) && !marker::is_output(output) {
        return Err(Error::invalid_args(
            format!(
                "{} exists and is not an output of helm nvflare prepare; refusing to replace it.",
                output.display()
            ),
            "Choose a new or empty --output folder, or remove this one yourself if it is yours to delete.",
        ));
    }
    Ok(())
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut e| e.next().is_none())
}

/// What in a kit folder is not kit content, and is neither checked nor copied: the output
/// being written, earlier outputs of this tool (by their marker, and the seed's
/// `<kit>/prepared`), temporary folders of interrupted runs, and the tool's state files.
fn not_kit_content<'a>(kit_dir: &'a Path, output: &'a Path) -> impl Fn(&Path) -> bool + 'a {
    let seed_outputs = kit_dir.join("prepared");
    move |path: &Path| {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        path == output
            || path == seed_outputs
            || marker::is_state_file(&name)
            || (name.starts_with('.') && name.contains(".prepare-"))
            || marker::is_output(path)
    }
}

/// The kit's content as a walk, refusing symlinks and special files: a link could copy a
/// file from anywhere on this machine into the output (and from there into the cluster).
pub fn kit_entries(kit_dir: &Path, output: &Path) -> Result<Vec<fs_tree::Entry>> {
    let entries = fs_tree::walk(kit_dir, &not_kit_content(kit_dir, output)).map_err(|e| {
        Error::invalid_kit(
            format!("Cannot read the kit {}: {e}", kit_dir.display()),
            "Check the kit folder's permissions.",
        )
    })?;
    let irregular = fs_tree::irregular(&entries);
    if !irregular.is_empty() {
        return Err(Error::invalid_kit(
            format!(
                "The kit {} holds {} entr{} that are not regular files or folders: {}",
                kit_dir.display(),
                irregular.len(),
                if irregular.len() == 1 { "y" } else { "ies" },
                irregular.join(", ")
            ),
            "A startup kit holds only files and folders: replace each link with the file itself, or ask the project admin for a fresh kit.",
        ));
    }
    Ok(entries)
}

/// The checks on one kit and its output, for a config that is already loaded.
pub fn check_kit(
    kit_dir: &Path,
    config: RuntimeConfig,
    mut layout: Layout,
    output: PathBuf,
) -> Result<Plan> {
    if kit_dir.is_dir() {
        kit_entries(kit_dir, &output)?;
    }
    let kit = kit::inspect(kit_dir)?;
    if kit.role == Role::Admin {
        return Err(Error::new(
            Code::UnsupportedKit,
            "Admin startup kits are not supported by 'helm nvflare prepare'.",
            "Use a server or client startup kit.",
        ));
    }
    // Staged comes first: an output NVFlare staged is not ours, but the reason to leave it
    // alone is what is in the cluster.
    crate::prepared::stage_record::refuse_if_staged(&output)?;
    check_output(kit_dir, &output)?;
    if let RuntimeConfig::K8s(k8s) = &config {
        check_port_clash(&kit, k8s)?;
    }
    if layout.nvflare_version.has_study_runtime() {
        let grants = check_study_files(&kit.dir.join("local"), config.runtime())?;
        if !grants.is_empty() && !layout.allow_job_pod_grants {
            return Err(Error::invalid_kit(
                format!(
                    "local/study_runtime.yaml gives every job pod of a study more than the launcher does: {}.",
                    grants.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                ),
                "The pod templates come with the kit, from the project admin, and become the pod of every job at this site. Ask them to remove these, or accept them with --allow-job-pod-grants.",
            ));
        }
        layout.warnings.extend(grants.iter().map(|g| {
            format!(
                "Job pods get what the kit's pod template grants (--allow-job-pod-grants): {g}."
            )
        }));
    }
    Ok(Plan {
        kit,
        config,
        layout,
        output,
    })
}

/// NVFlare 2.9 reads `local/study_runtime.yaml` when a job starts: check it now. A kit
/// with both it and the legacy `study_data.yaml` is refused by 2.9's launchers.
fn check_study_files(local: &Path, runtime: Runtime) -> Result<Vec<crate::study_runtime::Grant>> {
    let runtime_file = local.join(crate::study_runtime::STUDY_RUNTIME_YAML);
    if runtime_file.symlink_metadata().is_err() {
        return Ok(Vec::new());
    }
    if local.join(kit::STUDY_DATA_YAML).symlink_metadata().is_ok() {
        return Err(Error::invalid_kit(
            "The kit has both local/study_runtime.yaml and the legacy local/study_data.yaml; NVFlare 2.9 refuses to launch jobs with both.",
            "Move the study data mounts into study_runtime.yaml (datasets of each study) and remove study_data.yaml.",
        ));
    }
    crate::study_runtime::check(local, runtime)
}

/// The parent port shares the server's pod and Service with the FL and admin ports.
fn check_port_clash(kit: &KitInfo, config: &K8sConfig) -> Result<()> {
    if kit.role != Role::Server {
        return Ok(());
    }
    let (fed, admin) = server_ports(kit);
    let parent = config.parent.parent_port;
    if parent == fed || Some(parent) == admin {
        return Err(Error::invalid_config(
            format!("parent.parent_port {parent} is also the server's FL or admin port."),
            "Choose a different parent_port (the default is 8102).",
        ));
    }
    Ok(())
}

/// Writes a checked plan: copy the kit beside the output, patch the copy, swap it in.
pub fn write(plan: &Plan) -> Result<Prepared> {
    write_atomically(&plan.output, |work, temp| build(plan, work, temp))
}

/// Runs `build(work, temp)` to fill the new folder `work` inside a temporary folder `temp`
/// beside `output`, then moves `work` to `output` in one rename. On error, the temporary
/// folder and any parent folders created for `output` are removed again.
pub fn write_atomically<T>(
    output: &Path,
    build: impl FnOnce(&Path, &Path) -> Result<T>,
) -> Result<T> {
    let parent_dir = output.parent().ok_or_else(|| {
        Error::invalid_args(
            format!("Output path has no parent: {}", output.display()),
            "Choose a directory path.",
        )
    })?;
    let created = fs_tree::create_dir_all_tracked(parent_dir).map_err(|err| {
        Error::invalid_args(
            format!(
                "Cannot create output parent directory: {}",
                parent_dir.display()
            ),
            format!("Check the path: {err}"),
        )
    })?;
    let result = (|| {
        let name = output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        remove_stale_temp_dirs(parent_dir, &name);
        // 0700: the temporary folder holds private keys until it is moved into place.
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}.prepare-{}-", std::process::id()))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir_in(parent_dir)
            .map_err(|e| Error::prepare_io("create a temporary folder in", parent_dir, e))?;
        let work = temp.path().join(&name);
        let value = build(&work, temp.path())?;
        // A signal during the build leaves the old output in place; the temporary folder
        // is removed on the way out.
        crate::interrupt::check()?;
        fs_tree::replace_dir(&work, output, temp.path())
            .map_err(|e| Error::prepare_io("move into place", output, e))?;
        Ok(value)
    })();
    if result.is_err() {
        if let Some(dir) = created {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

/// Removes `.<name>.prepare-<pid>-*` folders whose process is gone: a run killed before
/// it could clean up leaves one behind, with private keys inside.
fn remove_stale_temp_dirs(parent_dir: &Path, name: &str) {
    let prefix = format!(".{name}.prepare-");
    let Ok(entries) = std::fs::read_dir(parent_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && pid > 0 && !process_alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn process_alive(pid: i32) -> bool {
    // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
    // SAFETY: kill with signal 0 sends nothing and touches no memory.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
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

fn prepare_k8s(
    kit: &KitInfo,
    work: &Path,
    output: &Path,
    config: &K8sConfig,
    version: NvflareVersion,
    warnings: &mut Warnings,
) -> Result<RuntimeDetails> {
    let parent = &config.parent;
    let launcher = &config.job_launcher;
    let mount = &parent.workspace_mount_path;
    let launcher_path = match kit.role {
        Role::Server => resources::K8S_SERVER_LAUNCHER,
        _ => resources::K8S_CLIENT_LAUNCHER,
    };
    let study_data_file = json!(format!("{mount}/local/{}", kit::STUDY_DATA_YAML));
    let mut args = Map::new();
    args.insert("config_file_path".into(), json!(launcher.config_file_path));
    if version == NvflareVersion::V2_8 {
        args.insert("study_data_pvc_file_path".into(), study_data_file.clone());
    }
    args.insert("namespace".into(), json!(config.namespace));
    args.insert(
        "default_python_path".into(),
        json!(launcher.default_python_path),
    );
    args.insert("workspace_mount_path".into(), json!(mount));
    // NVFlare 2.9 still mounts a legacy kit's study_data.yaml datasets.
    if version >= NvflareVersion::V2_9 && kit.dir.join("local").join(kit::STUDY_DATA_YAML).is_file()
    {
        args.insert("study_data_pvc_file_path".into(), study_data_file);
    }
    match launcher.pending_timeout {
        PendingTimeout::Default => {}
        PendingTimeout::Seconds(timeout) => {
            args.insert("pending_timeout".into(), json!(timeout));
        }
        // 2.9 keeps the null (its launcher: never time out); 2.8's prepare drops it and 2.8's
        // launcher has no "never", so its default applies: say so.
        PendingTimeout::Never if version >= NvflareVersion::V2_9 => {
            args.insert("pending_timeout".into(), Value::Null);
        }
        PendingTimeout::Never => warnings.push(
            "job_launcher.pending_timeout: null means \"never time out a Pending job pod\" to NVFlare 2.9's launcher only; NVFlare 2.8's has no such setting, so its default (120 s) applies. Set a number of seconds, or prepare for 2.9.".to_string(),
        ),
    }
    if let Some(context) = launcher
        .job_pod_security_context
        .as_ref()
        .filter(|c| !c.is_empty())
    {
        args.insert("security_context".into(), Value::Object(context.clone()));
    }
    if let Some(secrets) = &launcher.image_pull_secrets {
        args.insert("image_pull_secrets".into(), json!(secrets));
    }
    resources::install_launcher(work, "k8s_launcher", launcher_path, args, version, warnings)?;
    let derived =
        crate::prepared::names::Derived::new(&kit.name, kit.role, &config.server_service_name);
    let service = derived.service.clone();
    let security = comm_config::internal_security(version, parent.internal_connection_security);
    comm_config::patch_for_k8s(work, &service, parent.parent_port, security, version)?;
    ensure_study_template(work, version)?;
    if kit.role == Role::Server {
        resources::relocate_server_storage(work, mount, warnings)?;
    }
    local_files::remove_start_scripts(work, &[], version)?;
    let work_kit = KitInfo {
        dir: work.to_path_buf(),
        ..kit.clone()
    };
    chart::write(
        work,
        kit.role,
        &chart::chart_context(&work_kit, config, version),
    )?;

    let release = derived.release;
    let chart_dir = output.join(chart::CHART_DIR);
    Ok(RuntimeDetails::K8s {
        namespace: config.namespace.clone(),
        output: output.to_path_buf(),
        helm_command: format!(
            "helm upgrade --install {release} {} --namespace {}",
            quote(&chart_dir.display().to_string()),
            config.namespace
        ),
        helm_chart: chart_dir,
        resources: resources_path(output),
        release,
        service,
    })
}

/// The per-study file of the release: study_data.yaml (2.8) or study_runtime.yaml (2.9).
fn ensure_study_template(work: &Path, version: NvflareVersion) -> Result<()> {
    match version {
        NvflareVersion::V2_8 => local_files::ensure_study_data_template(work),
        NvflareVersion::V2_9 => local_files::ensure_study_runtime_template(work),
    }
}

fn prepare_docker(
    kit: &KitInfo,
    work: &Path,
    output: &Path,
    config: &DockerConfig,
    version: NvflareVersion,
    warnings: &mut Warnings,
) -> Result<RuntimeDetails> {
    let launcher_path = match kit.role {
        Role::Server => resources::DOCKER_SERVER_LAUNCHER,
        _ => resources::DOCKER_CLIENT_LAUNCHER,
    };
    let mut args = Map::new();
    args.insert("network".into(), json!(config.network));
    args.insert(
        "default_python_path".into(),
        json!(config.default_python_path),
    );
    args.insert(
        "default_job_container_kwargs".into(),
        Value::Object(config.default_job_container_kwargs.clone()),
    );
    args.insert(
        "default_job_env".into(),
        Value::Object(config.default_job_env.clone()),
    );
    resources::install_launcher(
        work,
        "docker_launcher",
        launcher_path,
        args,
        version,
        warnings,
    )?;
    if kit.role == Role::Server {
        resources::relocate_server_storage(work, WORKSPACE_MOUNT_PATH, warnings)?;
    }
    let security = comm_config::internal_security(version, config.internal_connection_security);
    comm_config::patch_for_docker(work, security, version)?;
    ensure_study_template(work, version)?;
    local_files::remove_start_scripts(work, &[local_files::DOCKER_START_SH], version)?;
    docker_script::write(kit, config, version, work)?;

    Ok(RuntimeDetails::Docker {
        output: output.to_path_buf(),
        start_command: format!(
            "cd {} && ./startup/{}",
            quote(&output.display().to_string()),
            local_files::DOCKER_START_SH
        ),
        start_script: output.join("startup").join(local_files::DOCKER_START_SH),
        resources: resources_path(output),
    })
}
