//! A provisioned startup kit: which participant it is for (role, name, organization,
//! ports), read the way `nvflare deploy prepare` reads it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use x509_parser::prelude::*;

use crate::error::{Code, Error, Result};
use crate::json_file;

pub const FED_SERVER_JSON: &str = "fed_server.json";
pub const FED_CLIENT_JSON: &str = "fed_client.json";
pub const FED_ADMIN_JSON: &str = "fed_admin.json";
pub const RESOURCES_JSON_DEFAULT: &str = "resources.json.default";
pub const RESOURCES_JSON: &str = "resources.json";
pub const COMM_CONFIG_JSON: &str = "comm_config.json";
pub const STUDY_DATA_YAML: &str = "study_data.yaml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Server,
    Client,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Admin => "admin",
        }
    }

    pub(crate) fn role_file(self) -> &'static str {
        match self {
            Role::Server => FED_SERVER_JSON,
            Role::Client => FED_CLIENT_JSON,
            Role::Admin => FED_ADMIN_JSON,
        }
    }
}

#[derive(Debug, Clone)]
pub struct KitInfo {
    pub dir: PathBuf,
    pub role: Role,
    pub name: String,
    pub org: String,
    pub fed_learn_port: Option<u16>,
    pub admin_port: Option<u16>,
}

/// True when `dir` looks like one participant's kit (it has `startup/` with a role file).
pub(crate) fn has_role_file(dir: &Path) -> bool {
    [Role::Server, Role::Client, Role::Admin]
        .iter()
        .any(|role| dir.join("startup").join(role.role_file()).is_file())
}

/// Validates a kit and reads who it is for. Admin kits are read too; refusing them is the
/// caller's decision (`UNSUPPORTED_KIT`).
pub(crate) fn inspect(kit_dir: &Path) -> Result<KitInfo> {
    if !kit_dir.is_dir() {
        return Err(Error::invalid_kit(
            format!(
                "Startup kit directory does not exist: {}",
                kit_dir.display()
            ),
            "Provide an existing kit directory.",
        ));
    }
    let startup = kit_dir.join("startup");
    let local = kit_dir.join("local");
    for (dir, what) in [(&startup, "startup"), (&local, "local")] {
        if !dir.is_dir() {
            return Err(Error::invalid_kit(
                format!("Missing {what} directory: {}", dir.display()),
                "Provide a valid startup kit.",
            ));
        }
    }
    let roles: Vec<Role> = [Role::Server, Role::Client, Role::Admin]
        .into_iter()
        .filter(|role| startup.join(role.role_file()).is_file())
        .collect();
    let role = match roles.as_slice() {
        [role] => *role,
        _ => {
            let found = if roles.is_empty() {
                "none".to_string()
            } else {
                roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(Error::invalid_kit(
                format!("Expected exactly one role file in startup/, found: {found}"),
                "A kit should contain one of fed_server.json, fed_client.json, or fed_admin.json.",
            ));
        }
    };
    json_file::load_object(&local.join(RESOURCES_JSON_DEFAULT), RESOURCES_JSON_DEFAULT)?;
    let role_config = json_file::load_object(&startup.join(role.role_file()), role.role_file())?;
    if role != Role::Admin {
        check_identity_files(&startup, role)?;
    }
    let name = detect_name(kit_dir, role, &role_config)?;
    let org = if role == Role::Admin {
        name.clone()
    } else {
        detect_org(&startup, role)?
    };
    let (fed_learn_port, admin_port) = detect_ports(role, &role_config)?;
    Ok(KitInfo {
        dir: kit_dir.to_path_buf(),
        role,
        name,
        org,
        fed_learn_port,
        admin_port,
    })
}

fn identity_names(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Server => ("server.crt", "server.key"),
        _ => ("client.crt", "client.key"),
    }
}

fn check_identity_files(startup: &Path, role: Role) -> Result<()> {
    let (cert, key) = identity_names(role);
    let missing: Vec<&str> = ["rootCA.pem", cert, key]
        .into_iter()
        .filter(|name| !startup.join(name).is_file())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_kit(
        format!(
            "Missing identity material in {}: {}",
            startup.display(),
            missing.join(", ")
        ),
        "Use a fully provisioned or packaged startup kit.",
    ))
}

/// Python truthiness for a JSON value, for the seed's `a or b or c` chains.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `str()` for the scalar values a name can hold.
fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

fn first_truthy<'a>(candidates: impl IntoIterator<Item = Option<&'a Value>>) -> Option<&'a Value> {
    candidates.into_iter().flatten().find(|v| truthy(v))
}

/// `servers[0]` of fed_server.json / fed_client.json, `{}` when absent, as the seed reads it.
fn first_server<'a>(
    role_config: &'a Map<String, Value>,
    file: &str,
) -> Result<Option<&'a Map<String, Value>>> {
    match role_config.get("servers") {
        Some(v) if truthy(v) => match v.as_array().and_then(|a| a.first()) {
            Some(Value::Object(server)) => Ok(Some(server)),
            _ => Err(Error::invalid_kit(
                format!("{file}: servers must be a list of objects."),
                "Fix the startup kit JSON.",
            )),
        },
        _ => Ok(None),
    }
}

fn detect_name(kit_dir: &Path, role: Role, role_config: &Map<String, Value>) -> Result<String> {
    let section = |key: &str| role_config.get(key).filter(|v| truthy(v));
    let found = match role {
        Role::Client => {
            let client = section("client").and_then(Value::as_object);
            first_truthy([client.and_then(|c| c.get("fqsn"))])
        }
        Role::Server => {
            let server = first_server(role_config, FED_SERVER_JSON)?;
            first_truthy([
                server.and_then(|s| s.get("identity")),
                server.and_then(|s| s.get("admin_server")),
            ])
        }
        Role::Admin => {
            let admin = section("admin").and_then(Value::as_object);
            first_truthy([admin.and_then(|a| a.get("name"))])
        }
    };
    let name = match found {
        Some(value) => python_str(value),
        None => kit_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    if name.is_empty() {
        return Err(Error::invalid_kit(
            format!(
                "Cannot determine the participant name of {}.",
                kit_dir.display()
            ),
            "Use a provisioned startup kit.",
        ));
    }
    check_printable("participant name", &name)?;
    Ok(name)
}

fn detect_org(startup: &Path, role: Role) -> Result<String> {
    let (cert_name, _) = identity_names(role);
    let parse_failed = |why: String| {
        Error::invalid_kit(
            format!("Failed to parse {cert_name}: {why}"),
            "Use a valid provisioned startup kit.",
        )
    };
    let pem_bytes =
        std::fs::read(startup.join(cert_name)).map_err(|e| parse_failed(e.to_string()))?;
    let (_, pem) = parse_x509_pem(&pem_bytes).map_err(|e| parse_failed(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| parse_failed(e.to_string()))?;
    let org = cert
        .subject()
        .iter_organization()
        .next()
        .map(|attr| {
            attr.as_str()
                .map(str::to_string)
                .map_err(|e| parse_failed(e.to_string()))
        })
        .transpose()?;
    match org {
        Some(org) if !org.is_empty() => check_printable("organization", &org).map(|()| org),
        _ => Err(Error::invalid_kit(
            format!("Missing organization in {cert_name}."),
            "Use a valid provisioned startup kit.",
        )),
    }
}

/// Names end up in YAML, JSON, shell scripts and terminals; no provisioned name holds a
/// control character (and Helm 3 cannot load a chart whose metadata holds DEL or C1).
fn check_printable(what: &str, value: &str) -> Result<()> {
    if !value.chars().any(char::is_control) {
        return Ok(());
    }
    Err(Error::invalid_kit(
        format!(
            "The kit's {what} {:?} contains control characters.",
            crate::terminal::escape(value)
        ),
        "Participant names are letters, digits, '-', '_' and '.': ask the project admin for a correctly provisioned kit.",
    ))
}

/// The port of `host:port`; a number that is no TCP port (`server1:0`) is an error, since
/// it would reach the chart's Service and the cluster would refuse it there.
fn port_from_target(target: Option<&Value>) -> Result<Option<u16>> {
    let Some((_, port)) = target
        .and_then(Value::as_str)
        .and_then(|t| t.rsplit_once(':'))
    else {
        return Ok(None);
    };
    match port.trim().parse::<u64>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(Some(n as u16)),
        Ok(n) => Err(Error::invalid_kit(
            format!("{FED_SERVER_JSON}: service.target port {n} is not a TCP port."),
            "Use a port between 1 and 65535 and reprovision.",
        )),
        Err(_) => Ok(None),
    }
}

fn json_port(value: Option<&Value>, file: &str, key: &str) -> Result<Option<u16>> {
    match value {
        // The seed takes any int; a port outside 1..65535 cannot be exposed, so say so now.
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
            match n.as_u64().and_then(|p| u16::try_from(p).ok()) {
                Some(port) if port > 0 => Ok(Some(port)),
                _ => Err(Error::new(
                    Code::InvalidKit,
                    format!("{file}: {key} {n} is not a TCP port."),
                    "Use a port between 1 and 65535 and reprovision.",
                )),
            }
        }
        _ => Ok(None),
    }
}

/// The server's FL port (from `service.target`) and admin port, as the seed reads them:
/// a missing admin port means it shares the FL port.
fn detect_ports(
    role: Role,
    role_config: &Map<String, Value>,
) -> Result<(Option<u16>, Option<u16>)> {
    if role != Role::Server {
        return Ok((None, None));
    }
    let server = first_server(role_config, FED_SERVER_JSON)?;
    let service = server
        .and_then(|s| s.get("service"))
        .and_then(Value::as_object);
    let fed_port = port_from_target(service.and_then(|s| s.get("target")))?;
    let admin_port = json_port(
        server.and_then(|s| s.get("admin_port")),
        FED_SERVER_JSON,
        "admin_port",
    )?;
    Ok((fed_port, admin_port.or(fed_port)))
}

/// The FL server port a client dials (`servers[0].service.target` of fed_client.json), for
/// the client's NetworkPolicy; None when the kit does not say.
pub(crate) fn client_server_port(kit_dir: &Path) -> Option<u16> {
    let config = crate::json_file::load_object(
        &kit_dir.join("startup").join(FED_CLIENT_JSON),
        FED_CLIENT_JSON,
    )
    .ok()?;
    let target = config
        .get("servers")?
        .as_array()?
        .first()?
        .get("service")?
        .get("target");
    port_from_target(target).ok().flatten()
}
