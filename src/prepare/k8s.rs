//! The Kubernetes layout: the job launcher, comm_config, the study template, the chart.

use super::*;

pub(super) fn prepare_k8s(
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
    let derived = crate::names::Derived::new(&kit.name, kit.role, &config.server_service_name);
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
