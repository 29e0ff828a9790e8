//! Registry credentials: what `helm registry login` stored (`HELM_REGISTRY_CONFIG`,
//! default `$HELM_CONFIG_HOME/registry/config.json`), falling back to Docker's config.

use std::path::PathBuf;

use base64::Engine;
use serde_json::Value;

#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

// Never print a password, not even in debug output.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn home() -> Option<PathBuf> {
    env_path("HOME")
}

/// Helm's registry config file, as Helm locates it.
pub fn helm_registry_config() -> Option<PathBuf> {
    if let Some(path) = env_path("HELM_REGISTRY_CONFIG") {
        return Some(path);
    }
    let config_home = env_path("HELM_CONFIG_HOME").or_else(|| {
        if cfg!(target_os = "macos") {
            home().map(|h| h.join("Library/Preferences/helm"))
        } else {
            env_path("XDG_CONFIG_HOME")
                .or_else(|| home().map(|h| h.join(".config")))
                .map(|c| c.join("helm"))
        }
    })?;
    Some(config_home.join("registry/config.json"))
}

fn docker_config() -> Option<PathBuf> {
    env_path("DOCKER_CONFIG")
        .map(|d| d.join("config.json"))
        .or_else(|| home().map(|h| h.join(".docker/config.json")))
}

/// `https://host:port/v1/` and friends, reduced to `host:port`.
fn normalize(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn from_file(path: &PathBuf, host: &str) -> Option<Credentials> {
    let config: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let auths = config.get("auths")?.as_object()?;
    let entry = auths
        .iter()
        .find(|(key, _)| normalize(key) == host)
        .map(|(_, v)| v)?;
    if let (Some(u), Some(p)) = (
        entry.get("username").and_then(Value::as_str),
        entry.get("password").and_then(Value::as_str),
    ) {
        return Some(Credentials {
            username: u.into(),
            password: p.into(),
        });
    }
    let auth = entry.get("auth")?.as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let (user, pass) = String::from_utf8(decoded)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some(Credentials {
        username: user,
        password: pass,
    })
}

/// Stored credentials for `host`, Helm's store first, then Docker's.
pub fn stored(host: &str) -> Option<Credentials> {
    [helm_registry_config(), docker_config()]
        .into_iter()
        .flatten()
        .find_map(|path| from_file(&path, host))
}
