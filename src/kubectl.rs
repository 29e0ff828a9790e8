//! Talking to the cluster: `kubectl` (or `oc`) as a child process, with the cluster chosen
//! the way Helm chose it. Helm takes `-n`, `--kube-context` and friends itself and hands
//! them to plugins as `HELM_*` variables; every call passes them on.
//!
//! Commands are shown (in `--dry-run`, progress and errors) with the bearer token redacted.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Code, Error, Result};

/// Set by the Ctrl-C handler; steps check it and stop, cleanup still runs.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C handler once. kubectl children in our process group get the signal
/// too and stop; cleanup calls run in their own process group so they finish.
pub fn catch_interrupts() {
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

#[derive(Debug, Clone, Default)]
pub struct ClusterSettings {
    /// `--kubectl`, else `KUBECTL`, else `kubectl`: a program name or path, never a shell string.
    pub kubectl: Option<String>,
    /// `--namespace`, else `HELM_NAMESPACE`.
    pub namespace: Option<String>,
    /// `--context`, else `HELM_KUBECONTEXT`.
    pub context: Option<String>,
    pub dry_run: bool,
}

#[derive(Debug, Clone)]
pub struct Kubectl {
    program: String,
    /// Cluster-selection flags passed on every call.
    global: Vec<String>,
    secret: Option<String>,
    pub dry_run: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The namespace to use: the flag, else Helm's `HELM_NAMESPACE`.
pub fn requested_namespace(settings: &ClusterSettings) -> Option<String> {
    settings.namespace.clone().or_else(|| env("HELM_NAMESPACE"))
}

impl Kubectl {
    pub fn new(settings: &ClusterSettings) -> Kubectl {
        let program = settings
            .kubectl
            .clone()
            .or_else(|| env("KUBECTL"))
            .unwrap_or_else(|| "kubectl".into());
        let mut global = Vec::new();
        if let Some(context) = settings.context.clone().or_else(|| env("HELM_KUBECONTEXT")) {
            global.push(format!("--context={context}"));
        }
        if let Some(server) = env("HELM_KUBEAPISERVER") {
            global.push(format!("--server={server}"));
        }
        if let Some(ca) = env("HELM_KUBECAFILE") {
            global.push(format!("--certificate-authority={ca}"));
        }
        if let Some(user) = env("HELM_KUBEASUSER") {
            global.push(format!("--as={user}"));
        }
        if let Some(groups) = env("HELM_KUBEASGROUPS") {
            global.extend(
                groups
                    .split(',')
                    .filter(|g| !g.is_empty())
                    .map(|g| format!("--as-group={g}")),
            );
        }
        if env("HELM_KUBEINSECURE_SKIP_TLS_VERIFY").is_some_and(|v| v == "true") {
            global.push("--insecure-skip-tls-verify=true".into());
        }
        let secret = env("HELM_KUBETOKEN");
        if let Some(token) = &secret {
            global.push(format!("--token={token}"));
        }
        Kubectl {
            program,
            global,
            secret,
            dry_run: settings.dry_run,
        }
    }

    /// The full argument list of a call.
    fn argv(&self, args: &[String]) -> Vec<String> {
        let mut argv = self.global.clone();
        argv.extend(args.iter().cloned());
        argv
    }

    /// A call as a shell-quoted line, token redacted: for `--dry-run`, progress and errors.
    pub fn display(&self, args: &[String]) -> String {
        let mut line = vec![crate::shell::quote(&self.program)];
        line.extend(
            self.argv(args)
                .iter()
                .map(|a| crate::shell::quote(&self.redact(a))),
        );
        line.join(" ")
    }

    pub fn redact(&self, text: &str) -> String {
        match &self.secret {
            Some(token) => text.replace(token.as_str(), "<redacted>"),
            None => text.to_string(),
        }
    }

    /// Runs one call; `Ok(Err(...))` is kubectl's own failure (exit code and stderr), for
    /// callers that expect some failures (NotFound). A missing kubectl is an error.
    pub fn call(
        &self,
        args: &[String],
        stdin: Option<&[u8]>,
        own_group: bool,
    ) -> Result<std::result::Result<String, Failure>> {
        let mut cmd = Command::new(&self.program);
        cmd.args(self.argv(args))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if own_group {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::new(
                    Code::KubectlNotFound,
                    format!("`{}` was not found.", self.program),
                    "Install kubectl (or oc) and put it on PATH, or name it with --kubectl or KUBECTL.",
                )
            } else {
                Error::new(Code::KubectlFailed, format!("Cannot run `{}`: {e}", self.program), "Check --kubectl.")
            }
        })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A kubectl that exits early closes its stdin; its exit status tells why.
            let _ = pipe.write_all(input);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| Error::new(Code::KubectlFailed, format!("kubectl: {e}"), ""))?;
        // A kubectl killed by Ctrl-C means the user interrupted us, even if our own handler
        // thread has not set the flag yet: decide here, not by racing it.
        if std::os::unix::process::ExitStatusExt::signal(&out.status) == Some(2) {
            INTERRUPTED.store(true, Ordering::SeqCst);
            return Err(interrupted());
        }
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(Ok(stdout));
        }
        Ok(Err(Failure {
            command: self.display(args),
            code: out.status.code(),
            stderr: self.redact(String::from_utf8_lossy(&out.stderr).trim()),
        }))
    }

    /// Runs one call that must succeed.
    pub fn run(&self, args: &[String], stdin: Option<&[u8]>) -> Result<String> {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err(interrupted());
        }
        match self.call(args, stdin, false)? {
            Ok(out) => Ok(out),
            Err(failure) if INTERRUPTED.load(Ordering::SeqCst) => {
                let _ = failure;
                Err(interrupted())
            }
            Err(failure) => Err(failure.into_error()),
        }
    }
}

pub fn interrupted() -> Error {
    Error::new(
        Code::Interrupted,
        "Interrupted.",
        "Nothing is left running; run the command again when ready.",
    )
}

/// A kubectl call that exited non-zero.
#[derive(Debug, Clone)]
pub struct Failure {
    pub command: String,
    pub code: Option<i32>,
    pub stderr: String,
}

impl Failure {
    pub fn is_not_found(&self) -> bool {
        self.stderr.contains("NotFound") || self.stderr.contains("not found")
    }

    pub fn into_error(self) -> Error {
        Error::new(
            Code::KubectlFailed,
            format!(
                "`{}` failed (exit {}): {}",
                self.command,
                self.code.map_or("signal".into(), |c| c.to_string()),
                if self.stderr.is_empty() { "no output" } else { &self.stderr }
            ),
            "Check the cluster connection (--context, KUBECONFIG) and your permissions in the namespace.",
        )
    }
}

/// Strings for argument lists.
pub fn args<const N: usize>(parts: [&str; N]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// A path for `kubectl cp`: absolute, so kubectl never reads `a:b` as `pod:path`.
pub fn local_path(path: &std::path::Path) -> Result<String> {
    let text = path.display().to_string();
    if !path.is_absolute() || text.contains(':') {
        return Err(Error::invalid_args(
            format!("{text} cannot be copied with kubectl cp: the path must be absolute and contain no ':'."),
            "Move the prepared kit to a path without ':'.",
        ));
    }
    Ok(text)
}
