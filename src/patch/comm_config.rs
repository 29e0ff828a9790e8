//! `local/comm_config.json`: the internal (parent <-> job) connection settings. Job pods
//! reach their parent through the parent's Service: in clear TCP for NVFlare 2.8, on mTLS
//! for NVFlare 2.9 unless the runtime config says `clear`.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::json_file;
use crate::kit::COMM_CONFIG_JSON;
use crate::nvflare_version::NvflareVersion;
use crate::runtime_config::ConnectionSecurity;

/// NVFlare's shared-file driver: parent and job exchange files on a shared disk, which job
/// pods and containers do not have.
const SHARED_FILE_SCHEME: &str = "shared-file";

fn load_or_default(path: &Path) -> Result<Map<String, Value>> {
    if path.is_file() {
        return json_file::load_object(path, COMM_CONFIG_JSON);
    }
    let Value::Object(default) = json!({
        "allow_adhoc_conns": false,
        "backbone_conn_gen": 2,
        "internal": {"scheme": "tcp", "resources": {"connection_security": "clear"}},
    }) else {
        unreachable!("a JSON object literal")
    };
    Ok(default)
}

fn shape_error(what: &str) -> Error {
    Error::invalid_kit(
        format!("comm_config.json {what} must be a mapping."),
        "Fix the startup kit comm config.",
    )
}

/// `internal` and `internal.resources`, created when missing, as the seed's `setdefault`s do.
fn internal_mut(comm: &mut Map<String, Value>) -> Result<&mut Map<String, Value>> {
    comm.entry("internal")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| shape_error("internal"))
}

fn internal_resources_mut(internal: &mut Map<String, Value>) -> Result<&mut Map<String, Value>> {
    internal
        .entry("resources")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| shape_error("internal.resources"))
}

/// How the parent and its jobs talk, by NVFlare release: 2.8 always clear, 2.9 as
/// configured (mTLS by default).
pub(crate) fn internal_security(
    version: NvflareVersion,
    configured: Option<ConnectionSecurity>,
) -> ConnectionSecurity {
    match version {
        NvflareVersion::V2_8 => ConnectionSecurity::Clear,
        NvflareVersion::V2_9 => configured.unwrap_or(ConnectionSecurity::Mtls),
    }
}

/// NVFlare 2.9 refuses a kit whose internal connection uses the shared-file driver.
fn refuse_shared_file(
    internal: &Map<String, Value>,
    version: NvflareVersion,
    runtime: &str,
) -> Result<()> {
    if version >= NvflareVersion::V2_9
        && internal.get("scheme").and_then(Value::as_str) == Some(SHARED_FILE_SCHEME)
    {
        return Err(Error::invalid_kit(
            format!("{runtime} runtime does not support internal.scheme '{SHARED_FILE_SCHEME}'."),
            "Use internal.scheme 'tcp', run the original kit in process mode, or choose the Slurm runtime.",
        ));
    }
    Ok(())
}

/// Kubernetes: job pods dial `host:port` = the parent Service and the parent port.
pub(crate) fn patch_for_k8s(
    kit_dir: &Path,
    service_host: &str,
    parent_port: u16,
    security: ConnectionSecurity,
    version: NvflareVersion,
) -> Result<()> {
    let path = kit_dir.join("local").join(COMM_CONFIG_JSON);
    let mut comm = load_or_default(&path)?;
    let internal = internal_mut(&mut comm)?;
    refuse_shared_file(internal, version, "Kubernetes")?;
    let resources = internal_resources_mut(internal)?;
    resources.insert("host".into(), json!(service_host));
    resources.insert("port".into(), json!(parent_port));
    resources.insert("connection_security".into(), json!(security.as_str()));
    internal.insert("scheme".into(), json!("tcp"));
    json_file::write_pretty(&path, &comm)
}

/// Docker: the parent listens on every interface of its container network. NVFlare 2.8
/// keeps the kit's security setting (clear when unset); 2.9 sets it.
pub(crate) fn patch_for_docker(
    kit_dir: &Path,
    security: ConnectionSecurity,
    version: NvflareVersion,
) -> Result<()> {
    let path = kit_dir.join("local").join(COMM_CONFIG_JSON);
    let mut comm = load_or_default(&path)?;
    let internal = internal_mut(&mut comm)?;
    refuse_shared_file(internal, version, "Docker")?;
    internal.insert("scheme".into(), json!("tcp"));
    let resources = internal_resources_mut(internal)?;
    resources.insert("host".into(), json!("0.0.0.0"));
    match version {
        NvflareVersion::V2_8 => {
            resources
                .entry("connection_security")
                .or_insert_with(|| json!("clear"));
        }
        NvflareVersion::V2_9 => {
            resources.insert("connection_security".into(), json!(security.as_str()));
        }
    }
    json_file::write_pretty(&path, &comm)
}
