//! How the long-lived parent process (server_train / client_train) is started, shared by
//! the Helm chart and the Docker start script.

use crate::kit::{KitInfo, Role, FED_CLIENT_JSON, FED_SERVER_JSON};

/// The FL port when the kit's fed_server.json does not name one.
pub const DEFAULT_FED_LEARN_PORT: u16 = 8002;

fn module_and_config(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Server => (
            "nvflare.private.fed.app.server.server_train",
            FED_SERVER_JSON,
        ),
        _ => (
            "nvflare.private.fed.app.client.client_train",
            FED_CLIENT_JSON,
        ),
    }
}

fn base_args(role: Role, workspace: &str) -> Vec<String> {
    let (module, config) = module_and_config(role);
    ["-u", "-m", module, "-m", workspace, "-s", config, "--set"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// The chart's `args` value. The client Deployment appends `uid=<siteName>` itself, so the
/// site name stays one Helm value.
pub(crate) fn chart_args(kit: &KitInfo, workspace: &str) -> Vec<String> {
    let mut args = base_args(kit.role, workspace);
    args.extend([
        "secure_train=true".to_string(),
        "config_folder=config".into(),
        format!("org={}", kit.org),
    ]);
    args
}

/// The Docker parent container's full command line.
pub(crate) fn docker_command(kit: &KitInfo, python: &str, workspace: &str) -> Vec<String> {
    let mut command = vec![python.to_string()];
    command.extend(base_args(kit.role, workspace));
    match kit.role {
        Role::Server => command.extend([
            "secure_train=true".to_string(),
            "config_folder=config".into(),
            format!("org={}", kit.org),
        ]),
        _ => command.extend([
            "secure_train=true".to_string(),
            format!("uid={}", kit.name),
            format!("org={}", kit.org),
            "config_folder=config".into(),
        ]),
    }
    command
}

/// The ports the server exposes: the FL port, then the admin port when it is distinct.
pub(crate) fn server_ports(kit: &KitInfo) -> (u16, Option<u16>) {
    let fed = kit.fed_learn_port.unwrap_or(DEFAULT_FED_LEARN_PORT);
    (fed, kit.admin_port.filter(|a| *a != fed))
}
