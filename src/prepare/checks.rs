//! Every check prepare makes before it writes: the config against `--package`, the output
//! against the kit, the kit's entries, role, ports and study files.

use super::*;

/// `--package` writes a chart archive: the docker runtime has no chart.
pub(super) fn check_package_runtime(
    settings: &PrepareSettings,
    config: &RuntimeConfig,
) -> Result<()> {
    if settings.package.is_some() && config.runtime() != crate::runtime_config::Runtime::K8s {
        return Err(Error::invalid_args(
            "--package needs the k8s runtime: the docker runtime writes no chart.",
            "Drop --package.",
        ));
    }
    Ok(())
}

/// `--output`, or `<source>/prepared/<runtime>`.
pub(crate) fn resolve_output(
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
pub(crate) fn check_output(source: &Path, output: &Path) -> Result<()> {
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

pub(super) fn is_empty_dir(dir: &Path) -> bool {
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
pub(crate) fn kit_entries(kit_dir: &Path, output: &Path) -> Result<Vec<fs_tree::Entry>> {
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
pub(crate) fn check_kit(
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
