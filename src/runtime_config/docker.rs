//! The Docker runtime config (`runtime: docker`).

use super::*;

pub(super) fn parse_docker(config: &Map<String, Value>) -> Result<DockerConfig> {
    allowed_keys(
        config,
        &["runtime", "nvflare_version", "parent", "job_launcher"],
        "docker config",
    )?;
    let parent = mapping(config.get("parent"), "parent")?;
    let job_launcher = optional_section(config, "job_launcher")?;
    allowed_keys(
        parent,
        &["docker_image", "network", "internal_connection_security"],
        "parent",
    )?;
    allowed_keys(
        job_launcher,
        &[
            "default_python_path",
            "default_job_env",
            "default_job_container_kwargs",
        ],
        "job_launcher",
    )?;
    let docker_image = required_str(parent, "docker_image", "parent")?;
    let internal_connection_security = connection_security(parent)?;
    // The script quotes it anyway; a reference that is no image is a mistake to report now.
    ImageRef::parse(&docker_image).map_err(|why| {
        Error::invalid_config(
            format!("parent.docker_image is not a valid image reference: {why}."),
            "Use [registry[:port]/]repository[:tag][@digest], for example registry.example.com:5000/nvflare:2.9.0.",
        )
    })?;
    let network = match parent.get("network") {
        Some(_) => required_str(parent, "network", "parent")?,
        None => DEFAULT_DOCKER_NETWORK.to_string(),
    };
    let default_python_path = optional_str(job_launcher, "default_python_path", "job_launcher")?
        .unwrap_or_else(|| DOCKER_JOB_PYTHON_PATH.into());
    let default_job_env =
        optional_mapping(job_launcher, "default_job_env", "job_launcher")?.unwrap_or_default();
    let kwargs = optional_mapping(job_launcher, "default_job_container_kwargs", "job_launcher")?
        .unwrap_or_default();
    refuse_reserved_kwargs(
        &kwargs,
        &DOCKER_RESERVED_KWARGS,
        "Remove keys controlled by DockerJobLauncher.",
    )?;
    Ok(DockerConfig {
        nvflare_version: nvflare_version(config)?,
        docker_image,
        internal_connection_security,
        network,
        default_python_path,
        default_job_env,
        default_job_container_kwargs: kwargs,
    })
}
