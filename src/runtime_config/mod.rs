//! The runtime config (`k8s.yaml` or a docker config): loaded, checked key by key as the
//! seed checks it, and turned into typed settings with the seed's defaults applied.
//!
//! Stricter than the seed where the seed lets bad values through to the cluster: a YAML
//! boolean is not an integer, ports must be TCP ports, PVC names and image references must
//! be valid, and the mount path must be absolute.

mod docker;
mod k8s;

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Code, Error, Result};
use crate::fields::first_line;
use crate::image::ImageRef;
use crate::names;
use crate::nvflare_version::NvflareVersion;

use docker::parse_docker;
use k8s::parse_k8s;

pub const DEFAULT_NAMESPACE: &str = "default";

pub const DEFAULT_SERVER_SERVICE_NAME: &str = "nvflare-server";

pub const DEFAULT_PARENT_PORT: u16 = 8102;

pub const DEFAULT_WORKSPACE_PVC: &str = "nvflws";

pub const WORKSPACE_MOUNT_PATH: &str = "/var/tmp/nvflare/workspace";

pub const PARENT_PYTHON_PATH: &str = "/usr/local/bin/python3";

pub const DEFAULT_DOCKER_NETWORK: &str = "nvflare-network";

/// The seed defaults the Docker launcher to `/usr/local/bin/python` while the parent and the
/// K8s launcher use `python3`; images that only ship `python3` then fail every job.
pub const DOCKER_JOB_PYTHON_PATH: &str = PARENT_PYTHON_PATH;

/// Docker kwargs the launcher owns (NVFlare 2.9.0's `RESERVED_DOCKER_KWARGS`): refused in a
/// study's `docker_kwargs` and, for 2.9, in the config's `default_job_container_kwargs`.
pub const RESERVED_DOCKER_KWARGS_2_9: [&str; 11] = [
    "auto_remove",
    "command",
    "detach",
    "environment",
    "image",
    "mounts",
    "name",
    "network",
    "user",
    "volumes",
    "working_dir",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    K8s,
    Docker,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::K8s => "k8s",
            Runtime::Docker => "docker",
        }
    }
}

/// How job processes reach their parent: NVFlare 2.9 keeps mTLS unless told `clear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionSecurity {
    Clear,
    Mtls,
}

impl ConnectionSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionSecurity::Clear => "clear",
            ConnectionSecurity::Mtls => "mtls",
        }
    }
}

#[derive(Debug, Clone)]
pub enum RuntimeConfig {
    K8s(K8sConfig),
    Docker(DockerConfig),
}

impl RuntimeConfig {
    /// The parent image from a mirror (`prepare --image-mirror`), tag and digest kept.
    pub(crate) fn in_mirror(&mut self, mirror: &str) {
        match self {
            RuntimeConfig::K8s(c) => c.parent.image = c.parent.image.in_mirror(mirror),
            RuntimeConfig::Docker(c) => {
                if let Ok(image) = ImageRef::parse(&c.docker_image) {
                    c.docker_image = image.in_mirror(mirror).to_string();
                }
            }
        }
    }

    pub fn runtime(&self) -> Runtime {
        match self {
            RuntimeConfig::K8s(_) => Runtime::K8s,
            RuntimeConfig::Docker(_) => Runtime::Docker,
        }
    }

    /// `nvflare_version:` of the config, when given.
    pub fn nvflare_version(&self) -> Option<NvflareVersion> {
        match self {
            RuntimeConfig::K8s(c) => c.nvflare_version,
            RuntimeConfig::Docker(c) => c.nvflare_version,
        }
    }

    /// `parent.internal_connection_security:` of the config, when given.
    pub fn internal_connection_security(&self) -> Option<ConnectionSecurity> {
        match self {
            RuntimeConfig::K8s(c) => c.parent.internal_connection_security,
            RuntimeConfig::Docker(c) => c.internal_connection_security,
        }
    }

    /// The parent image's tag, from which the NVFlare release may be read.
    pub fn image_tag(&self) -> String {
        match self {
            RuntimeConfig::K8s(c) => c.parent.image.tag.clone(),
            RuntimeConfig::Docker(c) => ImageRef::parse(&c.docker_image)
                .map(|i| i.tag)
                .unwrap_or_default(),
        }
    }

    /// Checks what only one NVFlare release understands.
    pub(crate) fn check_for(&self, version: NvflareVersion) -> Result<()> {
        if let (RuntimeConfig::Docker(docker), NvflareVersion::V2_9) = (self, version) {
            refuse_reserved_kwargs(
                &docker.default_job_container_kwargs,
                &RESERVED_DOCKER_KWARGS_2_9,
                "Remove keys controlled by DockerJobLauncher. For a site default job image, set studies.<study>.container.image in local/study_runtime.yaml.",
            )?;
        }
        if version == NvflareVersion::V2_8 && self.internal_connection_security().is_some() {
            return Err(Error::invalid_config(
                "parent.internal_connection_security needs NVFlare 2.9: the NVFlare 2.8 layout always runs parent <-> job connections in clear.",
                "Remove parent.internal_connection_security, or prepare for NVFlare 2.9 (--nvflare-version 2.9).",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct K8sConfig {
    pub nvflare_version: Option<NvflareVersion>,
    pub namespace: String,
    pub server_service_name: String,
    pub parent: K8sParent,
    pub job_launcher: K8sJobLauncher,
}

#[derive(Debug, Clone)]
pub struct K8sParent {
    pub image: ImageRef,
    pub internal_connection_security: Option<ConnectionSecurity>,
    pub parent_port: u16,
    pub workspace_pvc: String,
    pub workspace_mount_path: String,
    pub python_path: String,
    pub resources: Option<Map<String, Value>>,
    pub pod_security_context: Option<Map<String, Value>>,
    pub image_pull_secrets: Vec<String>,
}

/// `job_launcher.pending_timeout`, where an explicit `null` is not the same as no key:
/// NVFlare 2.9's launcher reads null as "never time out a Pending job pod" (`k8s_launcher.py`,
/// `_stuck_in_pending`), while an absent key means its default of 120 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingTimeout {
    /// No key: the launcher's default.
    Default,
    /// `null`: never time out (2.9).
    Never,
    Seconds(i64),
}

#[derive(Debug, Clone)]
pub struct K8sJobLauncher {
    pub config_file_path: Option<String>,
    pub pending_timeout: PendingTimeout,
    pub default_python_path: String,
    pub job_pod_security_context: Option<Map<String, Value>>,
    pub image_pull_secrets: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct DockerConfig {
    pub nvflare_version: Option<NvflareVersion>,
    pub docker_image: String,
    pub internal_connection_security: Option<ConnectionSecurity>,
    pub network: String,
    pub default_python_path: String,
    pub default_job_env: Map<String, Value>,
    pub default_job_container_kwargs: Map<String, Value>,
}

fn fix_config() -> &'static str {
    "Fix the runtime config."
}

/// Reads and checks a runtime config file.
pub fn load(path: &Path) -> Result<RuntimeConfig> {
    if !path.is_file() {
        return Err(Error::new(
            Code::ConfigNotFound,
            format!("Config file not found: {}", path.display()),
            "Provide a YAML runtime config file.",
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|err| {
        Error::invalid_config(
            format!("Failed to parse config file: {err}"),
            "Ensure the file is valid YAML.",
        )
    })?;
    let value: Option<Value> = serde_saphyr::from_str(&text).map_err(|err| {
        Error::invalid_config(
            format!(
                "Failed to parse config file: {}",
                first_line(&err.to_string())
            ),
            "Ensure the file is valid YAML.",
        )
    })?;
    let Some(Value::Object(config)) = value else {
        return Err(Error::invalid_config(
            "Runtime config must be a YAML mapping.",
            "Add runtime: docker or runtime: k8s.",
        ));
    };
    parse(&config)
}

/// Where a key or string value of `value` holds a control character: every string of the
/// config reaches values.yaml, JSON files or a script, where Helm 3 cannot read DEL or C1
/// back and a line break would start a new key.
fn control_character(value: &Value, place: &str) -> Option<String> {
    let at = |key: &str| {
        if place.is_empty() {
            key.to_string()
        } else {
            format!("{place}.{key}")
        }
    };
    match value {
        Value::String(s) if s.chars().any(char::is_control) => Some(if place.is_empty() {
            "a value".into()
        } else {
            place.to_string()
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.chars().any(char::is_control) {
                Some(format!(
                    "key {:?} of {}",
                    crate::terminal::escape(key),
                    at("")
                ))
            } else {
                control_character(item, &at(key))
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| control_character(item, &format!("{place}[{i}]"))),
        _ => None,
    }
}

/// Checks an already-parsed config mapping.
pub fn parse(config: &Map<String, Value>) -> Result<RuntimeConfig> {
    if let Some(place) = control_character(&Value::Object(config.clone()), "") {
        return Err(Error::invalid_config(
            format!("{place} contains a control character."),
            "Remove control characters (newlines, tabs, DEL, C1) from the runtime config's keys and values.",
        ));
    }
    match config.get("runtime").and_then(Value::as_str) {
        Some("k8s") => parse_k8s(config).map(RuntimeConfig::K8s),
        Some("docker") => parse_docker(config).map(RuntimeConfig::Docker),
        _ => Err(Error::invalid_config(
            "Config must contain runtime: docker or runtime: k8s.",
            "Set a supported runtime.",
        )),
    }
}

/// `nvflare_version: 2.9` (a YAML number) or `"2.9"`.
fn nvflare_version(config: &Map<String, Value>) -> Result<Option<NvflareVersion>> {
    let text = match config.get("nvflare_version") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
    };
    NvflareVersion::parse_given(&text, "nvflare_version").map(Some)
}

fn trim_trailing_slashes(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.into()
    }
}

/// Python's repr of a list of strings, as the seed's messages show them.
fn py_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A section that may be left out (an empty mapping then), but not set to anything else.
fn optional_section<'a>(
    config: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Map<String, Value>> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    match config.get(key) {
        None => Ok(&EMPTY),
        value => mapping(value, key),
    }
}

fn mapping<'a>(value: Option<&'a Value>, name: &str) -> Result<&'a Map<String, Value>> {
    value.and_then(Value::as_object).ok_or_else(|| {
        Error::invalid_config(format!("{name} must be a YAML mapping."), fix_config())
    })
}

fn allowed_keys(data: &Map<String, Value>, allowed: &[&str], place: &str) -> Result<()> {
    let unknown = crate::fields::unknown_keys(data, allowed);
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_config(
        format!("Unknown keys in {place}: {}", py_list(&unknown)),
        "Remove or rename unsupported keys.",
    ))
}

fn required_str(data: &Map<String, Value>, key: &str, place: &str) -> Result<String> {
    crate::fields::non_empty_str(data.get(key))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::invalid_config(
                format!("{place}.{key} must be a non-empty string."),
                fix_config(),
            )
        })
}

fn optional_str(data: &Map<String, Value>, key: &str, place: &str) -> Result<Option<String>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required_str(data, key, place).map(Some),
    }
}

fn optional_mapping(
    data: &Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<Option<Map<String, Value>>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(_) => Err(Error::invalid_config(
            format!("{place}.{key} must be a mapping."),
            fix_config(),
        )),
    }
}

/// An integer; `true`/`false` are not integers here (Python's `isinstance(True, int)` is).
fn optional_int(data: &Map<String, Value>, key: &str, place: &str) -> Result<Option<i64>> {
    match data.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(_) => Err(Error::invalid_config(
            format!("{place}.{key} must be an integer."),
            fix_config(),
        )),
    }
}

fn optional_port(data: &Map<String, Value>, key: &str, place: &str) -> Result<Option<u16>> {
    match optional_int(data, key, place)? {
        None => Ok(None),
        Some(port) => match u16::try_from(port) {
            Ok(port) if port > 0 => Ok(Some(port)),
            _ => Err(Error::invalid_config(
                format!("{place}.{key} must be a TCP port between 1 and 65535: {port}."),
                fix_config(),
            )),
        },
    }
}

/// NVFlare 2.8's list; 2.9 reserves two more (`RESERVED_DOCKER_KWARGS_2_9`).
const DOCKER_RESERVED_KWARGS: [&str; 9] = [
    "command",
    "detach",
    "environment",
    "mounts",
    "name",
    "network",
    "user",
    "volumes",
    "working_dir",
];

/// `parent.internal_connection_security`: `clear` or `mtls`, as NVFlare 2.9 checks it.
fn connection_security(parent: &Map<String, Value>) -> Result<Option<ConnectionSecurity>> {
    match parent.get("internal_connection_security") {
        None => Ok(None),
        Some(Value::String(s)) if s == "clear" => Ok(Some(ConnectionSecurity::Clear)),
        Some(Value::String(s)) if s == "mtls" => Ok(Some(ConnectionSecurity::Mtls)),
        Some(_) => Err(Error::invalid_config(
            "parent.internal_connection_security must be 'clear' or 'mtls'.",
            "Set parent.internal_connection_security to 'clear' or 'mtls'.",
        )),
    }
}

/// `default_job_container_kwargs` may not set what the Docker launcher sets itself.
fn refuse_reserved_kwargs(
    kwargs: &Map<String, Value>,
    reserved: &[&str],
    hint: &str,
) -> Result<()> {
    let found: Vec<&str> = reserved
        .iter()
        .copied()
        .filter(|key| kwargs.contains_key(*key))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_config(
        format!(
            "default_job_container_kwargs contains reserved keys: {}",
            py_list(&found)
        ),
        hint,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k8s(yaml: &str) -> Result<K8sConfig> {
        let value: Value = serde_saphyr::from_str(yaml).unwrap();
        match parse(value.as_object().unwrap())? {
            RuntimeConfig::K8s(c) => Ok(c),
            RuntimeConfig::Docker(_) => panic!("expected k8s"),
        }
    }

    #[test]
    fn defaults_follow_the_seed() {
        let c = k8s("runtime: k8s\nparent:\n  docker_image: nvflare/nvflare:2.9.0\n").unwrap();
        assert_eq!(c.namespace, "default");
        assert_eq!(c.server_service_name, "nvflare-server");
        assert_eq!(c.parent.parent_port, 8102);
        assert_eq!(c.parent.workspace_pvc, "nvflws");
        assert_eq!(c.parent.workspace_mount_path, WORKSPACE_MOUNT_PATH);
        assert_eq!(c.job_launcher.default_python_path, "/usr/local/bin/python3");
        assert!(c.job_launcher.image_pull_secrets.is_none());
    }

    #[test]
    fn a_yaml_boolean_is_not_an_integer() {
        let err =
            k8s("runtime: k8s\nparent:\n  docker_image: a\n  parent_port: true\n").unwrap_err();
        assert_eq!(err.message, "parent.parent_port must be an integer.");
    }

    #[test]
    fn unknown_keys_are_listed_sorted() {
        let err = k8s("runtime: k8s\nzeta: 1\nalpha: 2\nparent:\n  docker_image: a\n").unwrap_err();
        assert_eq!(err.message, "Unknown keys in k8s config: ['alpha', 'zeta']");
    }
}
