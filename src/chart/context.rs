//! The values a participant's chart is rendered with: the seed's `values.yaml` defaults,
//! computed from the kit and the `k8s` runtime config.

use serde::Serialize;
use serde_json::{json, Value};

use super::values::{
    ChartValues, Image, NameRef, Persistence, ServiceAccount, Workspace, WorkspaceConfig,
    WORKSPACE_VOLUME,
};

use crate::kit::{KitInfo, Role};
use crate::names;
use crate::names::Derived;
use crate::nvflare_version::NvflareVersion;
use crate::parent_process::{chart_args, server_ports};
use crate::runtime_config::K8sConfig;

/// The chart's metadata (Chart.yaml) beside its values.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartMeta {
    pub chart_name: &'static str,
    pub description: String,
    pub app_version: String,
    pub participant: String,
    pub release_name: String,
    pub namespace: String,
    pub nvflare_version: NvflareVersion,
    /// NVFlare 2.9's launcher reads events and patches/deletes its Secrets.
    pub launcher_reads_events: bool,
    /// The host clients dial, when the server's name is one (TLSRoute/Route defaults).
    pub hostname: String,
    pub hostnames: Vec<String>,
    /// The FL server port a client dials (its NetworkPolicy egress).
    pub server_port: u16,
}

/// What the chart templates are rendered with: `chart.*` for Chart.yaml, `values.*` for
/// values.yaml.
#[derive(Debug, Clone, Serialize)]
pub struct ChartContext {
    pub chart: ChartMeta,
    pub values: ChartValues,
}

/// NVFlare's default FL port, when a client kit does not name the server's.
const DEFAULT_FL_PORT: u16 = 8002;

pub(crate) fn chart_context(
    kit: &KitInfo,
    config: &K8sConfig,
    version: NvflareVersion,
) -> ChartContext {
    let parent = &config.parent;
    let image = &parent.image;
    let mount = &parent.workspace_mount_path;
    let (fed_learn_port, admin_port) = server_ports(kit);
    let server = kit.role == Role::Server;
    let derived = Derived::new(&kit.name, kit.role, &config.server_service_name);
    let role_word = if server {
        "server"
    } else {
        "client deployment and service"
    };
    ChartContext {
        chart: ChartMeta {
            chart_name: if server {
                super::SERVER_CHART_NAME
            } else {
                super::CLIENT_CHART_NAME
            },
            description: format!("NVFlare federated learning {role_word} for {}", kit.name),
            app_version: if image.tag.is_empty() {
                "latest".into()
            } else {
                image.tag.clone()
            },
            participant: kit.name.clone(),
            release_name: derived.release.clone(),
            namespace: config.namespace.clone(),
            nvflare_version: version,
            launcher_reads_events: version >= NvflareVersion::V2_9,
            hostname: if server && names::is_dns1123_subdomain(&kit.name) {
                kit.name.clone()
            } else {
                String::new()
            },
            hostnames: if server && names::is_dns1123_subdomain(&kit.name) {
                vec![kit.name.clone()]
            } else {
                Vec::new()
            },
            server_port: if server {
                fed_learn_port
            } else {
                crate::kit::client_server_port(&kit.dir).unwrap_or(DEFAULT_FL_PORT)
            },
        },
        values: ChartValues {
            name: kit.name.clone(),
            site_name: (!server).then(|| kit.name.clone()),
            service_name: derived.service.clone(),
            image: Image {
                repository: image.repository.clone(),
                tag: image.tag.clone(),
                digest: image.digest.clone(),
                pull_policy: if server { "IfNotPresent" } else { "Always" }.into(),
            },
            image_pull_secrets: parent
                .image_pull_secrets
                .iter()
                .map(|n| NameRef { name: n.clone() })
                .collect(),
            service_account: ServiceAccount::default(),
            persistence: Persistence {
                workspace: Workspace {
                    claim_name: parent.workspace_pvc.clone(),
                    volume_name: WORKSPACE_VOLUME.into(),
                    mount_path: mount.clone(),
                },
            },
            fed_learn_port: server.then_some(fed_learn_port),
            admin_port: if server { admin_port } else { None },
            parent_port: parent.parent_port,
            port: None,
            resources: parent
                .resources
                .clone()
                .map(Value::Object)
                .unwrap_or_else(|| json!({"requests": {"cpu": "2", "memory": "8Gi"}})),
            security_context: parent
                .pod_security_context
                .clone()
                .map(Value::Object)
                .unwrap_or_else(|| json!({})),
            command: vec![parent.python_path.clone()],
            args: chart_args(kit, mount),
            workspace_config: WorkspaceConfig::default(),
        },
    }
}

/// A context for template tests.
#[cfg(test)]
pub fn sample(role: Role) -> ChartContext {
    use serde_json::Map;
    let kit = KitInfo {
        dir: std::path::PathBuf::from("/kit"),
        role,
        name: if role == Role::Server {
            "fl.example.com".into()
        } else {
            "Hospital_A".into()
        },
        org: "nvidia".into(),
        fed_learn_port: Some(8002),
        admin_port: Some(8003),
    };
    let config: Map<String, Value> = serde_json::from_value(json!({
        "runtime": "k8s",
        "parent": {"docker_image": "localhost:5000/nvflare", "image_pull_secrets": ["regcred"],
                   "resources": {"limits": {"nvidia.com/gpu": 1}}},
    }))
    .unwrap();
    match crate::runtime_config::parse(&config).unwrap() {
        crate::runtime_config::RuntimeConfig::K8s(c) => {
            chart_context(&kit, &c, NvflareVersion::CURRENT)
        }
        crate::runtime_config::RuntimeConfig::Docker(_) => unreachable!(),
    }
}
