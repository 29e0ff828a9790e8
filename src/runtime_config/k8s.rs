//! The Kubernetes runtime config (`runtime: k8s`): the parent, the job launcher.

use super::*;

pub(super) fn parse_k8s(config: &Map<String, Value>) -> Result<K8sConfig> {
    allowed_keys(
        config,
        &[
            "runtime",
            "nvflare_version",
            "namespace",
            "server_service_name",
            "parent",
            "job_launcher",
        ],
        "k8s config",
    )?;
    let parent = mapping(config.get("parent"), "parent")?;
    let job_launcher = optional_section(config, "job_launcher")?;
    // The seed checks the key sets of both sections before any value.
    allowed_keys(
        parent,
        &[
            "docker_image",
            "internal_connection_security",
            "parent_port",
            "workspace_pvc",
            "workspace_mount_path",
            "python_path",
            "resources",
            "pod_security_context",
            "image_pull_secrets",
        ],
        "parent",
    )?;
    allowed_keys(
        job_launcher,
        &[
            "config_file_path",
            "pending_timeout",
            "default_python_path",
            "job_pod_security_context",
            "image_pull_secrets",
        ],
        "job_launcher",
    )?;
    let docker_image = required_str(parent, "docker_image", "parent")?;
    let internal_connection_security = connection_security(parent)?;
    let namespace = match config.get("namespace") {
        Some(_) => k8s_namespace(config, "namespace", "k8s config")?,
        None => DEFAULT_NAMESPACE.to_string(),
    };
    let server_service_name = match config.get("server_service_name") {
        Some(_) => k8s_service_name(config, "server_service_name", "k8s config")?,
        None => DEFAULT_SERVER_SERVICE_NAME.to_string(),
    };
    let mut parent = parse_k8s_parent(parent)?;
    parent.internal_connection_security = internal_connection_security;
    let job_launcher = parse_k8s_job_launcher(job_launcher)?;
    // The image last, as the seed reports it after the other values.
    parent.image = ImageRef::parse(&docker_image).map_err(|why| {
        Error::invalid_config(
            format!("parent.docker_image is not a valid image reference: {why}."),
            "Use [registry[:port]/]repository[:tag][@digest], for example registry.example.com:5000/nvflare:2.9.0.",
        )
    })?;
    Ok(K8sConfig {
        nvflare_version: nvflare_version(config)?,
        namespace,
        server_service_name,
        parent,
        job_launcher,
    })
}

/// The `parent:` section (its image is parsed by the caller).
fn parse_k8s_parent(parent: &Map<String, Value>) -> Result<K8sParent> {
    let parent_port =
        optional_port(parent, "parent_port", "parent")?.unwrap_or(DEFAULT_PARENT_PORT);
    let workspace_pvc = optional_str(parent, "workspace_pvc", "parent")?
        .unwrap_or_else(|| DEFAULT_WORKSPACE_PVC.into());
    if !names::is_dns1123_subdomain(&workspace_pvc) {
        return Err(Error::invalid_config(
            format!("parent.workspace_pvc must be a valid PersistentVolumeClaim name (DNS-1123 subdomain): {workspace_pvc:?}."),
            "Use lower case alphanumeric characters, '-' or '.', start and end with an alphanumeric character, and keep length <= 253.",
        ));
    }
    let workspace_mount_path = optional_str(parent, "workspace_mount_path", "parent")?
        .unwrap_or_else(|| WORKSPACE_MOUNT_PATH.into());
    if !workspace_mount_path.starts_with('/')
        || workspace_mount_path.split('/').any(|p| p == "..")
        || workspace_mount_path.contains(':')
    {
        return Err(Error::invalid_config(
            format!("parent.workspace_mount_path must be an absolute container path: {workspace_mount_path:?}."),
            "Use an absolute path without '..' or ':', for example /var/tmp/nvflare/workspace.",
        ));
    }
    Ok(K8sParent {
        image: ImageRef::default(),
        internal_connection_security: None,
        parent_port,
        workspace_pvc,
        workspace_mount_path: trim_trailing_slashes(&workspace_mount_path),
        python_path: optional_str(parent, "python_path", "parent")?
            .unwrap_or_else(|| PARENT_PYTHON_PATH.into()),
        resources: optional_mapping(parent, "resources", "parent")?,
        pod_security_context: optional_mapping(parent, "pod_security_context", "parent")?,
        image_pull_secrets: optional_secret_names(
            parent,
            "image_pull_secrets",
            "parent image pull references",
        )?
        .unwrap_or_default(),
    })
}

/// The `job_launcher:` section.
fn parse_k8s_job_launcher(job_launcher: &Map<String, Value>) -> Result<K8sJobLauncher> {
    let config_file_path = optional_str(job_launcher, "config_file_path", "job_launcher")?;
    let default_python_path = optional_str(job_launcher, "default_python_path", "job_launcher")?
        .unwrap_or_else(|| PARENT_PYTHON_PATH.into());
    let pending_timeout = match (
        job_launcher.get("pending_timeout"),
        optional_int(job_launcher, "pending_timeout", "job_launcher")?,
    ) {
        (Some(Value::Null), _) => PendingTimeout::Never,
        (_, None) => PendingTimeout::Default,
        (_, Some(timeout)) if timeout < 0 => return Err(Error::invalid_config(
            format!("job_launcher.pending_timeout must not be negative: {timeout}."),
            "Give the timeout in seconds, for example 300, or null for no timeout (NVFlare 2.9).",
        )),
        (_, Some(timeout)) => PendingTimeout::Seconds(timeout),
    };
    Ok(K8sJobLauncher {
        config_file_path,
        pending_timeout,
        default_python_path,
        job_pod_security_context: optional_mapping(
            job_launcher,
            "job_pod_security_context",
            "job_launcher",
        )?,
        image_pull_secrets: optional_secret_names(
            job_launcher,
            "image_pull_secrets",
            "job launcher image pull references",
        )?,
    })
}

fn k8s_namespace(data: &Map<String, Value>, key: &str, place: &str) -> Result<String> {
    let value = required_str(data, key, place)?;
    if names::is_dns1123_label(&value) {
        return Ok(value);
    }
    Err(Error::invalid_config(
        format!("{place}.{key} must be a valid Kubernetes namespace (DNS-1123 label): {value:?}."),
        format!(
            "Use lower case alphanumeric characters or '-', start and end with an alphanumeric character, and keep length <= {}.",
            names::DNS_LABEL_MAX
        ),
    ))
}

fn k8s_service_name(data: &Map<String, Value>, key: &str, place: &str) -> Result<String> {
    let value = required_str(data, key, place)?;
    if names::is_dns1035_label(&value) {
        return Ok(value);
    }
    Err(Error::invalid_config(
        format!("{place}.{key} must be a valid Kubernetes Service name (DNS-1035 label): {value:?}."),
        format!(
            "Use lower case alphanumeric characters or '-', start with a letter, end with an alphanumeric character, and keep length <= {}.",
            names::SERVICE_NAME_MAX
        ),
    ))
}

fn optional_secret_names(
    data: &Map<String, Value>,
    key: &str,
    label: &str,
) -> Result<Option<Vec<String>>> {
    let items = match data.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Error::invalid_config(
                format!("{label} must be a list of Kubernetes object names."),
                fix_config(),
            ))
        }
    };
    items
        .iter()
        .map(|item| match item.as_str() {
            Some(name) if names::is_dns1123_subdomain(name) => Ok(name.to_string()),
            _ => Err(Error::invalid_config(
                format!("{label} must contain valid Kubernetes object names."),
                "Use lower case alphanumeric characters, '-', or '.', start and end with an alphanumeric character, and keep length <= 253.",
            )),
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}
