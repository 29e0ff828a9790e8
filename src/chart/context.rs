//! The values a participant's chart is rendered with: the seed's `values.yaml` defaults,
//! computed from the kit and the `k8s` runtime config.

use serde_json::{json, Value};

use crate::kit::{KitInfo, Role};
use crate::names;
use crate::parent_process::{chart_args, server_ports};
use crate::runtime_config::K8sConfig;

/// The name of the parent Service job pods dial: the configured server Service, or the
/// client's stable DNS-1035 name.
pub fn parent_service_name(kit: &KitInfo, config: &K8sConfig) -> String {
    match kit.role {
        Role::Server => config.server_service_name.clone(),
        _ => names::client_service_name(&kit.name),
    }
}

pub fn chart_context(kit: &KitInfo, config: &K8sConfig) -> Value {
    let parent = &config.parent;
    let image = &parent.image;
    let mount = &parent.workspace_mount_path;
    let (fed_learn_port, admin_port) = server_ports(kit);
    let role_word = if kit.role == Role::Server {
        "server"
    } else {
        "client deployment and service"
    };
    json!({
        "chartName": if kit.role == Role::Server { super::SERVER_CHART_NAME } else { super::CLIENT_CHART_NAME },
        "description": format!("NVFlare federated learning {role_word} for {}", kit.name),
        "appVersion": if image.tag.is_empty() { "latest" } else { image.tag.as_str() },
        "name": kit.name,
        "siteName": kit.name,
        "serviceName": parent_service_name(kit, config),
        "releaseName": names::release_name(&kit.name),
        "namespace": config.namespace,
        "image": {
            "repository": image.repository,
            "tag": image.tag,
            "digest": image.digest,
            "pullPolicy": if kit.role == Role::Server { "IfNotPresent" } else { "Always" },
        },
        "imagePullSecrets": parent.image_pull_secrets.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "persistence": {"claimName": parent.workspace_pvc, "mountPath": mount},
        "fedLearnPort": fed_learn_port,
        "adminPort": admin_port,
        "parentPort": parent.parent_port,
        "resources": parent.resources.clone().map(Value::Object)
            .unwrap_or_else(|| json!({"requests": {"cpu": "2", "memory": "8Gi"}})),
        "securityContext": parent.pod_security_context.clone().map(Value::Object).unwrap_or_else(|| json!({})),
        "command": [parent.python_path],
        "args": chart_args(kit, mount),
    })
}

/// A context for template tests.
#[cfg(test)]
pub fn sample(role: Role) -> Value {
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
        crate::runtime_config::RuntimeConfig::K8s(c) => chart_context(&kit, &c),
        crate::runtime_config::RuntimeConfig::Docker(_) => unreachable!(),
    }
}
