//! The Docker layout: the Docker launcher and `start_docker.sh`.

use super::*;

pub(super) fn prepare_docker(
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
