//! `local/resources.json.default`: swap whatever launcher and resource handling the kit had
//! for the runtime's job launcher, and move server storage into the workspace mount.

use std::path::Path;

use serde_json::{json, Map, Value};

use super::Warnings;
use crate::error::{Error, Result};
use crate::json_file;
use crate::kit::{RESOURCES_JSON, RESOURCES_JSON_DEFAULT};
use crate::nvflare_version::NvflareVersion;

pub const PASSTHROUGH_RESOURCE_MANAGER: &str =
    "nvflare.app_common.resource_managers.passthrough_resource_manager.PassthroughResourceManager";
const GPU_RESOURCE_MANAGER: &str =
    "nvflare.app_common.resource_managers.gpu_resource_manager.GPUResourceManager";
pub const DOCKER_CLIENT_LAUNCHER: &str =
    "nvflare.app_opt.job_launcher.docker_launcher.ClientDockerJobLauncher";
pub const DOCKER_SERVER_LAUNCHER: &str =
    "nvflare.app_opt.job_launcher.docker_launcher.ServerDockerJobLauncher";
pub const K8S_CLIENT_LAUNCHER: &str =
    "nvflare.app_opt.job_launcher.k8s_launcher.ClientK8sJobLauncher";
pub const K8S_SERVER_LAUNCHER: &str =
    "nvflare.app_opt.job_launcher.k8s_launcher.ServerK8sJobLauncher";
const PROCESS_CLIENT_LAUNCHER: &str =
    "nvflare.app_common.job_launcher.client_process_launcher.ClientProcessJobLauncher";
const PROCESS_SERVER_LAUNCHER: &str =
    "nvflare.app_common.job_launcher.server_process_launcher.ServerProcessJobLauncher";
const GPU_RESOURCE_CONSUMER: &str =
    "nvflare.app_common.resource_consumers.gpu_resource_consumer.GPUResourceConsumer";

const LAUNCHER_IDS: [&str; 3] = ["process_launcher", "docker_launcher", "k8s_launcher"];
/// NVFlare 2.9 added a Slurm launcher: prepare replaces it too.
const SLURM_LAUNCHER_ID: &str = "slurm_launcher";
const SLURM_LAUNCHER_PATHS: [&str; 2] = [
    "nvflare.app_opt.job_launcher.slurm.ClientSlurmJobLauncher",
    "nvflare.app_opt.job_launcher.slurm.ServerSlurmJobLauncher",
];
const RESOURCE_CONSUMER_IDS: [&str; 1] = ["resource_consumer"];
const BUILTIN_LAUNCHER_PATHS: [&str; 6] = [
    DOCKER_CLIENT_LAUNCHER,
    DOCKER_SERVER_LAUNCHER,
    K8S_CLIENT_LAUNCHER,
    K8S_SERVER_LAUNCHER,
    PROCESS_CLIENT_LAUNCHER,
    PROCESS_SERVER_LAUNCHER,
];
const BUILTIN_RESOURCE_MANAGER_PATHS: [&str; 2] =
    [GPU_RESOURCE_MANAGER, PASSTHROUGH_RESOURCE_MANAGER];
const BUILTIN_RESOURCE_CONSUMER_PATHS: [&str; 1] = [GPU_RESOURCE_CONSUMER];

fn kit_error(message: impl Into<String>) -> Error {
    Error::invalid_kit(message, "Fix the startup kit resources file.")
}

fn load(local: &Path) -> Result<Map<String, Value>> {
    json_file::load_object(&local.join(RESOURCES_JSON_DEFAULT), RESOURCES_JSON_DEFAULT)
}

/// Writes resources.json.default and removes resources.json, which would otherwise win.
fn save(local: &Path, resources: &Map<String, Value>) -> Result<()> {
    json_file::write_pretty(&local.join(RESOURCES_JSON_DEFAULT), resources)?;
    let active = local.join(RESOURCES_JSON);
    if active.symlink_metadata().is_ok() {
        std::fs::remove_file(&active).map_err(|e| Error::prepare_io("remove", &active, e))?;
    }
    Ok(())
}

fn components_mut(resources: &mut Map<String, Value>) -> Result<&mut Vec<Value>> {
    let components = resources
        .entry("components")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(list) = components else {
        return Err(kit_error(
            "resources.json.default components must be a list.",
        ));
    };
    if list.iter().any(|c| !c.is_object()) {
        return Err(kit_error(
            "resources.json.default components must be JSON objects.",
        ));
    }
    Ok(list)
}

fn str_field<'a>(component: &'a Value, key: &str) -> Option<&'a str> {
    component.get(key).and_then(Value::as_str)
}

/// Python truthiness of a component's `args` / `path`.
fn is_set(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::Bool(true)) => true,
    }
}

fn has_custom_config(component: &Value, builtin_paths: &[&str]) -> bool {
    if is_set(component.get("args")) {
        return true;
    }
    let path = component.get("path");
    is_set(path) && !str_field(component, "path").is_some_and(|p| builtin_paths.contains(&p))
}

fn is_launcher_id(id: &str, version: NvflareVersion) -> bool {
    LAUNCHER_IDS.contains(&id) || (version >= NvflareVersion::V2_9 && id == SLURM_LAUNCHER_ID)
}

fn is_builtin_launcher(path: &str, version: NvflareVersion) -> bool {
    BUILTIN_LAUNCHER_PATHS.contains(&path)
        || (version >= NvflareVersion::V2_9 && SLURM_LAUNCHER_PATHS.contains(&path))
}

fn launcher_replacement_discards_config(
    component: &Value,
    launcher_id: &str,
    launcher_path: &str,
    version: NvflareVersion,
) -> bool {
    if is_set(component.get("args")) {
        return true;
    }
    if !is_set(component.get("path")) {
        return false;
    }
    let path = str_field(component, "path");
    if str_field(component, "id") == Some(launcher_id) && path != Some(launcher_path) {
        return true;
    }
    !path.is_some_and(|p| is_builtin_launcher(p, version))
}

fn warn_for_replaced_components(
    components: &[Value],
    launcher_id: &str,
    launcher_path: &str,
    version: NvflareVersion,
    warnings: &mut Warnings,
) {
    for component in components {
        let Some(id) = str_field(component, "id") else {
            continue;
        };
        if RESOURCE_CONSUMER_IDS.contains(&id)
            && has_custom_config(component, &BUILTIN_RESOURCE_CONSUMER_PATHS)
        {
            warnings.push(format!(
                "deploy prepare removes component '{id}' from resources.json.default; existing resource consumer configuration will not be used by the prepared runtime."
            ));
        } else if id == "resource_manager"
            && has_custom_config(component, &BUILTIN_RESOURCE_MANAGER_PATHS)
        {
            warnings.push(
                "deploy prepare replaces component 'resource_manager' with PassthroughResourceManager; existing resource manager path/args will not be used by the prepared runtime."
                    .to_string(),
            );
        } else if is_launcher_id(id, version)
            && launcher_replacement_discards_config(component, launcher_id, launcher_path, version)
        {
            warnings.push(format!(
                "deploy prepare replaces component '{id}' with generated '{launcher_id}' configuration; existing launcher path/args will not be used by the prepared runtime."
            ));
        }
    }
}

/// Removes every launcher, resource consumer and resource manager, then appends the
/// PassthroughResourceManager and the runtime's launcher with `launcher_args`.
pub(crate) fn install_launcher(
    kit_dir: &Path,
    launcher_id: &str,
    launcher_path: &str,
    launcher_args: Map<String, Value>,
    version: NvflareVersion,
    warnings: &mut Warnings,
) -> Result<()> {
    let local = kit_dir.join("local");
    let mut resources = load(&local)?;
    let components = components_mut(&mut resources)?;
    warn_for_replaced_components(components, launcher_id, launcher_path, version, warnings);
    components.retain(|c| {
        let id = str_field(c, "id").unwrap_or_default();
        !is_launcher_id(id, version)
            && !RESOURCE_CONSUMER_IDS.contains(&id)
            && id != "resource_manager"
    });
    components
        .push(json!({"id": "resource_manager", "path": PASSTHROUGH_RESOURCE_MANAGER, "args": {}}));
    components.push(json!({"id": launcher_id, "path": launcher_path, "args": launcher_args}));
    save(&local, &resources)
}

/// Points the server's snapshot storage and job store at the workspace mount, so they live
/// on the workspace volume instead of the container's ephemeral filesystem.
pub(crate) fn relocate_server_storage(
    kit_dir: &Path,
    workspace_mount_path: &str,
    warnings: &mut Warnings,
) -> Result<()> {
    let local = kit_dir.join("local");
    let mut resources = load(&local)?;
    if let Some(persistor) = resources.get_mut("snapshot_persistor") {
        let storage_args = persistor
            .get_mut("args")
            .and_then(|a| a.get_mut("storage"))
            .and_then(|s| s.get_mut("args"))
            .and_then(Value::as_object_mut);
        match storage_args {
            Some(args) => {
                args.insert("root_dir".into(), Value::String(format!("{workspace_mount_path}/snapshot-storage")));
            }
            None => warnings.push(format!(
                "snapshot_persistor is present, but deploy prepare could not relocate snapshot storage to the workspace at {workspace_mount_path}/snapshot-storage. Expected nested key: snapshot_persistor.args.storage.args.root_dir."
            )),
        }
    }
    if let Some(Value::Array(components)) = resources.get_mut("components") {
        for component in components.iter_mut() {
            if str_field(component, "id") != Some("job_manager") {
                continue;
            }
            let Some(component) = component.as_object_mut() else {
                continue;
            };
            let args = component
                .entry("args")
                .or_insert_with(|| Value::Object(Map::new()));
            let Some(args) = args.as_object_mut() else {
                return Err(kit_error(
                    "resources.json.default job_manager args must be a JSON object.",
                ));
            };
            args.insert(
                "uri_root".into(),
                Value::String(format!("{workspace_mount_path}/jobs-storage")),
            );
        }
    }
    save(&local, &resources)
}
