//! The chart's values, typed: one struct that `prepare` renders into values.yaml (through
//! the commented template) and that `stage` and `verify` read back from it. Server and
//! client charts share it; the server-only values are optional.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where the workspace PVC is mounted when k8s.yaml does not say.
pub const DEFAULT_MOUNT_PATH: &str = crate::runtime_config::WORKSPACE_MOUNT_PATH;
/// The volume name the Deployment gives the workspace PVC.
pub const WORKSPACE_VOLUME: &str = "workspace";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartValues {
    /// Participant name from the kit (exactly, whatever characters it holds).
    pub name: String,
    /// The client identity (`uid=`); clients only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    /// Service job pods dial (comm_config's internal host).
    pub service_name: String,
    pub image: Image,
    #[serde(default)]
    pub image_pull_secrets: Vec<NameRef>,
    #[serde(default)]
    pub service_account: ServiceAccount,
    #[serde(default)]
    pub persistence: Persistence,
    /// FL port clients connect to; servers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fed_learn_port: Option<u16>,
    /// Admin port when it differs from the FL port; servers only.
    #[serde(default)]
    pub admin_port: Option<u16>,
    /// Internal port job pods use to reach the parent (comm_config's internal port).
    pub parent_port: u16,
    /// The same port under NVFlare's name (the client chart's `port` in the guide); wins
    /// over `parent_port` when set. Never rendered: values.yaml writes it as null.
    #[serde(default, skip_serializing)]
    pub port: Option<u16>,
    #[serde(default)]
    pub resources: Value,
    /// Pod-level security context.
    #[serde(default)]
    pub security_context: Value,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub workspace_config: WorkspaceConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub repository: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub pull_policy: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NameRef {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    pub create: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub annotations: Map<String, Value>,
    pub automount_service_account_token: bool,
}

impl Default for ServiceAccount {
    fn default() -> Self {
        ServiceAccount {
            create: true,
            name: String::new(),
            annotations: Map::new(),
            // The job launcher talks to the Kubernetes API with this token.
            automount_service_account_token: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Persistence {
    #[serde(default)]
    pub workspace: Workspace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    pub claim_name: String,
    #[serde(default = "workspace_volume")]
    pub volume_name: String,
    pub mount_path: String,
}

fn workspace_volume() -> String {
    WORKSPACE_VOLUME.into()
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace {
            claim_name: crate::runtime_config::DEFAULT_WORKSPACE_PVC.into(),
            volume_name: WORKSPACE_VOLUME.into(),
            mount_path: DEFAULT_MOUNT_PATH.into(),
        }
    }
}

/// Filled by `stage --method configmap`: `local/` as a ConfigMap, `startup/` as a Secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceConfig {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub local: LocalConfig,
    #[serde(default)]
    pub startup: StartupConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct LocalConfig {
    #[serde(default)]
    pub config_map_name: String,
    #[serde(default)]
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StartupConfig {
    #[serde(default)]
    pub secret_name: String,
    #[serde(default)]
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub key: String,
    pub path: String,
}

impl WorkspaceConfig {
    pub(crate) fn is_staged(&self) -> bool {
        !self.local.config_map_name.is_empty() || !self.startup.secret_name.is_empty()
    }
}

impl ChartValues {
    /// The ports the parent's Service serves: FL, admin and parent for a server; the
    /// parent port for a client.
    pub(crate) fn service_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = [self.fed_learn_port, self.admin_port, Some(self.parent_port)]
            .into_iter()
            .flatten()
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The pod-level `runAsUser` and `fsGroup`, when set.
    pub(crate) fn pod_identity(&self) -> (Option<i64>, Option<i64>) {
        (
            self.security_context["runAsUser"].as_i64(),
            self.security_context["fsGroup"].as_i64(),
        )
    }
}
