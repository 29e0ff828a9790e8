//! Registry credentials: what `helm registry login` stored (`HELM_REGISTRY_CONFIG`,
//! default `$HELM_CONFIG_HOME/registry/config.json`), falling back to Docker's config.
//! In each file, as Docker reads it: `credHelpers[host]`, else `credsStore`, else the
//! `auths` entry (`username`/`password`, `auth`, or an `identitytoken`). A credential
//! helper is run as `docker-credential-<name> get` with the host on stdin.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::bounded_child::{read_capped, wait_bounded, Ended};
use serde_json::Value;

#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// An OAuth2 refresh token (`identitytoken`): exchanged at the token endpoint instead
    /// of the password.
    pub identity_token: Option<String>,
}

impl Credentials {
    pub fn basic(username: String, password: String) -> Credentials {
        Credentials {
            username,
            password,
            identity_token: None,
        }
    }
}

// Never print a password or token, not even in debug output.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field(
                "identity_token",
                &self.identity_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
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
    let helper = config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|helpers| helpers.iter().find(|(key, _)| normalize(key) == host))
        .and_then(|(_, name)| name.as_str())
        .or_else(|| config.get("credsStore").and_then(Value::as_str));
    if let Some(name) = helper {
        return from_helper(name, host);
    }
    let auths = config.get("auths")?.as_object()?;
    let entry = auths
        .iter()
        .find(|(key, _)| normalize(key) == host)
        .map(|(_, v)| v)?;
    let text = |key: &str| {
        entry
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let (username, password) = match (text("username"), text("password"), text("auth")) {
        (Some(u), Some(p), _) => (u.to_string(), p.to_string()),
        (_, _, Some(auth)) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .ok()?;
            let (u, p) = String::from_utf8(decoded)
                .ok()?
                .split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))?;
            (u, p)
        }
        _ => (String::new(), String::new()),
    };
    let identity_token = text("identitytoken").map(str::to_string);
    if username.is_empty() && identity_token.is_none() {
        return None;
    }
    Some(Credentials {
        username,
        password,
        identity_token,
    })
}

/// Runs `docker-credential-<name> get`, giving it the host; its answer is
/// `{"Username": ..., "Secret": ...}`, where the user `<token>` marks an identity token.
/// The helper is the operator's own configuration; its answer is still bounded.
fn from_helper(name: &str, host: &str) -> Option<Credentials> {
    if name.is_empty()
        || name.starts_with('-')
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return None;
    }
    let mut child = Command::new(format!("docker-credential-{name}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let _ = child.stdin.take()?.write_all(host.as_bytes());
    let overflow = Arc::new(AtomicBool::new(false));
    let answer = read_capped(child.stdout.take(), 64 * 1024, &overflow);
    let deadline = Instant::now() + Duration::from_secs(30);
    match wait_bounded(&mut child, deadline, false, &overflow).ok()? {
        Ended::Exited(status) if status.success() && !overflow.load(Ordering::SeqCst) => {}
        _ => return None,
    }
    let answer = answer.recv_timeout(Duration::from_secs(2)).ok()?;
    let answer: Value = serde_json::from_slice(&answer).ok()?;
    let user = answer.get("Username")?.as_str()?.to_string();
    let secret = answer.get("Secret")?.as_str()?.to_string();
    Some(if user == "<token>" {
        Credentials {
            username: String::new(),
            password: String::new(),
            identity_token: Some(secret),
        }
    } else {
        Credentials::basic(user, secret)
    })
}

/// Stored credentials for `host` from the first of `files` that has some (Helm's
/// registry login, then Docker's config).
pub fn stored(host: &str, files: &[PathBuf]) -> Option<Credentials> {
    files.iter().find_map(|path| from_file(path, host))
}
