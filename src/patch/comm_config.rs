//! `local/comm_config.json`: the internal (parent <-> job) connection settings. Job pods
//! reach their parent through the parent's Service, in clear TCP inside the cluster.

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::json_file;
use crate::kit::COMM_CONFIG_JSON;

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

/// Kubernetes: job pods dial `host:port` = the parent Service and the parent port.
pub fn patch_for_k8s(kit_dir: &Path, service_host: &str, parent_port: u16) -> Result<()> {
    let path = kit_dir.join("local").join(COMM_CONFIG_JSON);
    let mut comm = load_or_default(&path)?;
    let internal = internal_mut(&mut comm)?;
    let resources = internal_resources_mut(internal)?;
    resources.insert("host".into(), json!(service_host));
    resources.insert("port".into(), json!(parent_port));
    resources.insert("connection_security".into(), json!("clear"));
    internal.insert("scheme".into(), json!("tcp"));
    json_file::write_pretty(&path, &comm)
}

/// Docker: the parent listens on every interface of its container network.
pub fn patch_for_docker(kit_dir: &Path) -> Result<()> {
    let path = kit_dir.join("local").join(COMM_CONFIG_JSON);
    let mut comm = load_or_default(&path)?;
    let internal = internal_mut(&mut comm)?;
    internal.insert("scheme".into(), json!("tcp"));
    let resources = internal_resources_mut(internal)?;
    resources.insert("host".into(), json!("0.0.0.0"));
    resources
        .entry("connection_security")
        .or_insert_with(|| json!("clear"));
    json_file::write_pretty(&path, &comm)
}
