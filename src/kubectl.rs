//! Talking to the cluster: `kubectl` (or `oc`) as a child process, with the cluster chosen
//! the way Helm chose it. Helm takes `-n`, `--kube-context` and friends itself and hands
//! them to plugins as `HELM_*` variables; every call passes them on.
//!
//! Everything kubectl sends back is untrusted and bounded: every call has a deadline
//! (`--request-timeout`, and the child is killed when the deadline passes), and its
//! output is read up to a cap. A bearer token never reaches a command line (where `ps`
//! shows it): it goes into a temporary kubeconfig, readable by us only, removed after.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::bounded_child::{read_capped, wait_bounded, Ended};
use crate::error::{Code, Error, Result};
use crate::interrupt::{interrupted, INTERRUPTED};

/// More than any answer we ask for (a pod list, a file listing); past it kubectl is killed.
pub const MAX_STDOUT_BYTES: usize = 16 * 1024 * 1024;
const MAX_STDERR_BYTES: usize = 1024 * 1024;
/// Time a call gets beyond its own `--request-timeout` / `--timeout` before it is killed:
/// as long again, at most 30 s.
const MAX_GRACE: Duration = Duration::from_secs(30);
/// The kubeconfig user that carries HELM_KUBETOKEN.
const TOKEN_USER: &str = "helm-nvflare-token";

/// Which cluster to talk to, and how: the command's flags over Helm's environment.
#[derive(Debug, Clone, Default)]
pub struct ClusterSettings {
    /// `--kubectl`, else `KUBECTL`, else `kubectl`: a program name or path, never a shell string.
    pub kubectl: Option<String>,
    /// `--namespace`: the operator asked for this namespace explicitly.
    pub namespace: Option<String>,
    /// `--context`.
    pub context: Option<String>,
    /// A kubeconfig file of the operator's (a targets file entry) instead of KUBECONFIG.
    pub kubeconfig: Option<String>,
    /// What Helm passed in the environment.
    pub helm: crate::helm_env::HelmEnv,
    pub dry_run: bool,
    /// The command's `--timeout`: how long a wait may take (the helper pod, a rollout, a
    /// copy); 0 means 300 s.
    pub timeout_seconds: u64,
    /// `--request-timeout`: how long any other call may take (a read, an apply); 0 means
    /// 30 s. An unreachable or silent cluster is reported after this, not after --timeout.
    pub request_timeout_seconds: u64,
}

/// Calls that wait or move data (a delete may wait for the pod to go), and so get the
/// command's `--timeout`.
const WAITING_VERBS: [&str; 5] = ["wait", "rollout", "cp", "exec", "delete"];
/// Helm calls that change a release (and may wait for it).
const HELM_WAITING_VERBS: [&str; 5] = ["upgrade", "install", "uninstall", "rollback", "pull"];

impl ClusterSettings {
    /// The namespace to use: the flag, else Helm's `HELM_NAMESPACE`.
    pub fn requested_namespace(&self) -> Option<String> {
        self.namespace
            .clone()
            .or_else(|| self.helm.namespace.clone())
    }

    /// The kubeconfig context: the flag, else Helm's `HELM_KUBECONTEXT`.
    pub fn requested_context(&self) -> Option<String> {
        self.context
            .clone()
            .or_else(|| self.helm.kube_context.clone())
    }
}

#[derive(Debug, Clone)]
pub struct Kubectl {
    program: String,
    /// Cluster-selection flags passed on every call.
    global: Vec<String>,
    secret: Option<String>,
    /// The temporary kubeconfig holding the token, first in KUBECONFIG for every call.
    token_config: Option<Arc<TokenConfig>>,
    timeout: Duration,
    request_timeout: Duration,
    pub dry_run: bool,
    /// Helm rather than kubectl: the same bounds, Helm's flags.
    helm: bool,
}

/// A kubeconfig (mode 0600 in a 0700 folder) that only defines the token's user; kubectl
/// merges it with the user's own, and `--user` picks it. Removed when dropped.
#[derive(Debug)]
struct TokenConfig {
    _dir: tempfile::TempDir,
    kubeconfig: String,
}

impl TokenConfig {
    fn new(token: &str, own_kubeconfig: &str) -> std::io::Result<TokenConfig> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let dir = tempfile::Builder::new()
            .prefix("helm-nvflare-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        let path = dir.path().join("kubeconfig");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: {TOKEN_USER}\n  user:\n    token: {}\n",
            crate::yaml_writer::string(token)
        );
        file.write_all(yaml.as_bytes())?;
        // The user's own kubeconfig files follow ours: clusters and contexts come from them.
        Ok(TokenConfig {
            kubeconfig: format!("{}:{own_kubeconfig}", path.display()),
            _dir: dir,
        })
    }
}

impl Kubectl {
    pub fn new(settings: &ClusterSettings) -> Result<Kubectl> {
        let helm = &settings.helm;
        let program = settings
            .kubectl
            .clone()
            .or_else(|| helm.kubectl.clone())
            .unwrap_or_else(|| "kubectl".into());
        let mut global = Vec::new();
        if let Some(context) = settings.requested_context() {
            global.push(format!("--context={context}"));
        }
        if let Some(server) = &helm.kube_apiserver {
            global.push(format!("--server={server}"));
        }
        if let Some(ca) = &helm.kube_ca_file {
            global.push(format!("--certificate-authority={ca}"));
        }
        if let Some(user) = &helm.kube_as_user {
            global.push(format!("--as={user}"));
        }
        global.extend(
            helm.kube_as_groups
                .iter()
                .map(|g| format!("--as-group={g}")),
        );
        if helm.kube_insecure_skip_tls_verify {
            global.push("--insecure-skip-tls-verify=true".into());
        }
        let secret = helm.kube_token.clone();
        if secret.is_some() {
            global.push(format!("--user={TOKEN_USER}"));
        } else if let Some(kubeconfig) = &settings.kubeconfig {
            global.push(format!("--kubeconfig={kubeconfig}"));
        }
        let own_kubeconfig = settings.kubeconfig.as_deref().unwrap_or(&helm.kubeconfig);
        let timeout = Duration::from_secs(match settings.timeout_seconds {
            0 => 300,
            n => n,
        });
        let request_timeout = Duration::from_secs(match settings.request_timeout_seconds {
            0 => 30,
            n => n,
        })
        .min(timeout);
        // A dry run runs nothing, so it needs no kubeconfig with the token.
        let token_config = match (&secret, settings.dry_run) {
            (Some(token), false) => Some(Arc::new(
                TokenConfig::new(token, own_kubeconfig).map_err(|e| {
                    Error::new(
                        Code::KubectlFailed,
                        format!("Cannot write a temporary kubeconfig for HELM_KUBETOKEN: {e}"),
                        "Check that the temporary folder (TMPDIR) is writable.",
                    )
                })?,
            )),
            _ => None,
        };
        Ok(Kubectl {
            program,
            global,
            secret,
            token_config,
            timeout,
            request_timeout,
            dry_run: settings.dry_run,
            helm: false,
        })
    }

    /// Helm (`program`: `--helm`, else `HELM_BIN`, else `helm`), run with the same bounds
    /// as kubectl and pointed at the same cluster: `--kubeconfig`, `--kube-context`. Helm
    /// reads Helm's own `HELM_KUBE*` variables itself; install, upgrade, uninstall and
    /// rollback get `--timeout`, anything else `--request-timeout`.
    pub fn helm(settings: &ClusterSettings, program: Option<String>) -> Result<Kubectl> {
        let program = program
            .or_else(|| settings.helm.helm_bin.clone())
            .unwrap_or_else(|| "helm".into());
        let mut global = Vec::new();
        if let Some(kubeconfig) = &settings.kubeconfig {
            global.push(format!("--kubeconfig={kubeconfig}"));
        }
        if let Some(context) = settings.requested_context() {
            global.push(format!("--kube-context={context}"));
        }
        let timeout = Duration::from_secs(match settings.timeout_seconds {
            0 => 300,
            n => n,
        });
        let request_timeout = Duration::from_secs(match settings.request_timeout_seconds {
            0 => 30,
            n => n,
        })
        .min(timeout);
        Ok(Kubectl {
            program,
            global,
            secret: settings.helm.kube_token.clone(),
            token_config: None,
            timeout,
            request_timeout,
            dry_run: settings.dry_run,
            helm: true,
        })
    }

    /// The full argument list of a call.
    fn argv(&self, args: &[String]) -> Vec<String> {
        let mut argv = self.global.clone();
        if !self.helm {
            argv.push(format!("--request-timeout={}s", self.limit(args).as_secs()));
        }
        argv.extend(args.iter().cloned());
        argv
    }

    /// How long one call may take: a wait gets --timeout, anything else --request-timeout.
    fn limit(&self, args: &[String]) -> Duration {
        let verb = args
            .iter()
            .find(|a| !a.starts_with("--"))
            .map(String::as_str);
        let waiting: &[&str] = if self.helm {
            &HELM_WAITING_VERBS
        } else {
            &WAITING_VERBS
        };
        if verb.is_some_and(|v| waiting.contains(&v)) {
            self.timeout
        } else {
            self.request_timeout
        }
    }

    /// A call as a shell-quoted line, token redacted: for `--dry-run`, progress and errors.
    pub fn display(&self, args: &[String]) -> String {
        let mut line = vec![crate::shell_quote::quote(&self.program)];
        line.extend(
            self.argv(args)
                .iter()
                .map(|a| crate::shell_quote::quote(&self.redact(a))),
        );
        line.join(" ")
    }

    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.secret {
            Some(token) => text.replace(token.as_str(), "<redacted>"),
            None => text.to_string(),
        }
    }

    /// Runs one call; `Ok(Err(...))` is kubectl's own failure (exit code and stderr), for
    /// callers that expect some failures (NotFound). A missing kubectl, a call past its
    /// deadline and output past the cap are errors.
    pub fn call(
        &self,
        args: &[String],
        stdin: Option<&[u8]>,
        own_group: bool,
    ) -> Result<std::result::Result<String, Failure>> {
        let stdout =
            |pipe, overflow: &Arc<AtomicBool>| read_capped(pipe, MAX_STDOUT_BYTES, overflow);
        let answer = self.call_with(args, stdin, own_group, stdout, MAX_STDOUT_BYTES as u64)?;
        Ok(answer.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Runs one call whose stdout (bytes, a tar stream say) goes to `sink`, at most `cap`
    /// bytes of it: past the cap kubectl is killed and the call is OUTPUT_TOO_LARGE.
    /// Returns how many bytes were written.
    pub fn download(
        &self,
        args: &[String],
        sink: std::fs::File,
        cap: u64,
    ) -> Result<std::result::Result<u64, Failure>> {
        let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let count = Arc::clone(&written);
        let stdout = move |pipe: Option<std::process::ChildStdout>, overflow: &Arc<AtomicBool>| {
            let (tx, rx) = mpsc::channel();
            let overflow = Arc::clone(overflow);
            std::thread::spawn(move || {
                let mut sink = std::io::BufWriter::new(sink);
                if let Some(pipe) = pipe {
                    let mut limited = std::io::Read::take(pipe, cap + 1);
                    let n = std::io::copy(&mut limited, &mut sink).unwrap_or(0);
                    if n > cap {
                        overflow.store(true, Ordering::SeqCst);
                    }
                    count.store(n.min(cap), Ordering::SeqCst);
                }
                let _ = sink.flush();
                let _ = tx.send(Vec::new());
            });
            rx
        };
        let answer = self.call_with(args, None, false, stdout, cap)?;
        Ok(answer.map(|_| written.load(Ordering::SeqCst)))
    }

    fn call_with(
        &self,
        args: &[String],
        stdin: Option<&[u8]>,
        own_group: bool,
        read_stdout: impl FnOnce(
            Option<std::process::ChildStdout>,
            &Arc<AtomicBool>,
        ) -> mpsc::Receiver<Vec<u8>>,
        cap: u64,
    ) -> Result<std::result::Result<Vec<u8>, Failure>> {
        let mut child = self.spawn(args, stdin, own_group)?;
        let overflow = Arc::new(AtomicBool::new(false));
        let stdout = read_stdout(child.stdout.take(), &overflow);
        let stderr = read_capped(
            child.stderr.take(),
            MAX_STDERR_BYTES,
            &Arc::new(AtomicBool::new(false)),
        );
        let deadline = Instant::now() + self.deadline(args);
        let ended = wait_bounded(&mut child, deadline, own_group, &overflow)
            .map_err(|e| Error::new(Code::KubectlFailed, format!("kubectl: {e}"), ""))?;
        let collect = |rx: mpsc::Receiver<Vec<u8>>, wait: Duration| {
            // A grandchild holding the pipe open must not keep us waiting either.
            rx.recv_timeout(wait).unwrap_or_default()
        };
        let too_large = || {
            Error::new(
                Code::OutputTooLarge,
                format!("`{}` printed more than {} MiB; it was stopped.", self.display(args), cap >> 20),
                "Check that KUBECTL/--kubectl names a real kubectl and the context the right cluster.",
            )
        };
        let ended = match ended {
            // A kubectl that exits (SIGPIPE) once we stop reading still overflowed.
            Ended::Exited(_) if overflow.load(Ordering::SeqCst) => Ended::Overflowed,
            other => other,
        };
        let status = match ended {
            Ended::Exited(status) => status,
            Ended::TimedOut => return Err(self.timeout_error(args)),
            Ended::Overflowed => return Err(too_large()),
            Ended::Interrupted => return Err(interrupted()),
        };
        // A kubectl killed by Ctrl-C means the user interrupted us, even if our own handler
        // thread has not set the flag yet: decide here, not by racing it.
        if std::os::unix::process::ExitStatusExt::signal(&status) == Some(2) {
            INTERRUPTED.store(true, Ordering::SeqCst);
            return Err(interrupted());
        }
        // A sink still writing what kubectl sent before it exited gets time to finish.
        let wait = if cap > MAX_STDOUT_BYTES as u64 { 60 } else { 2 };
        let stdout = collect(stdout, Duration::from_secs(wait));
        if overflow.load(Ordering::SeqCst) {
            return Err(too_large());
        }
        let stderr = collect(stderr, Duration::from_secs(2));
        if status.success() {
            return Ok(Ok(stdout));
        }
        Ok(Err(Failure {
            command: self.display(args),
            code: status.code(),
            stderr: self.redact(String::from_utf8_lossy(&stderr).trim()),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
        }))
    }

    /// Starts kubectl with `args` (after the global flags), feeding `stdin` from a thread.
    fn spawn(&self, args: &[String], stdin: Option<&[u8]>, own_group: bool) -> Result<Child> {
        let mut cmd = Command::new(&self.program);
        cmd.args(self.argv(args))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(config) = &self.token_config {
            cmd.env("KUBECONFIG", &config.kubeconfig);
        }
        if own_group {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound && self.helm {
                Error::new(
                    Code::HelmNotFound,
                    format!("`{}` was not found.", self.program),
                    "Run the command through Helm (helm nvflare ...: Helm sets HELM_BIN), or name Helm with --helm.",
                )
            } else if e.kind() == std::io::ErrorKind::NotFound {
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
            // Written from a thread: a kubectl that does not read must not block us. One
            // that exits early closes its stdin; its exit status tells why.
            let input = input.to_vec();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        Ok(child)
    }

    fn deadline(&self, args: &[String]) -> Duration {
        let limit = self.limit(args);
        limit + limit.min(MAX_GRACE)
    }

    /// Past our own deadline (kubectl's --request-timeout did not end it: a TLS handshake
    /// that never finishes, say): the same kind as kubectl's own timeout.
    fn timeout_error(&self, args: &[String]) -> Error {
        let verb: Vec<&str> = args
            .iter()
            .filter(|a| !a.starts_with("--"))
            .take(3)
            .map(String::as_str)
            .collect();
        let kind = crate::cluster_failure::Kind::Timeout;
        let mut error = Error::new(
            kind.code(),
            format!(
                "the cluster did not answer in time (kubectl {}): stopped after {}s",
                verb.join(" "),
                self.deadline(args).as_secs()
            ),
            kind.hint(),
        );
        error.call = Some(crate::error::FailedCall {
            command: self.display(args),
            stderr: String::new(),
        });
        error
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

/// A kubectl call that exited non-zero.
#[derive(Debug, Clone)]
pub struct Failure {
    pub command: String,
    pub code: Option<i32>,
    pub stderr: String,
    /// What it printed on stdout (`auth can-i` says `no` there).
    pub stdout: String,
}

impl Failure {
    /// The error an operator reads: one line of the failure's kind, with its code and hint
    /// (cluster_failure.rs); the command and kubectl's whole stderr ride along for --debug
    /// and JSON.
    pub(crate) fn into_error(self) -> Error {
        let reading = crate::cluster_failure::classify(&self.stderr);
        let what = self.verb();
        let message = if reading.line.is_empty() {
            format!(
                "{what} failed (exit {}) and said nothing",
                self.code.map_or("signal".into(), |c| c.to_string())
            )
        } else {
            reading.summary(&what)
        };
        let mut error = Error::new(reading.kind.code(), message, reading.kind.hint());
        error.call = Some(crate::error::FailedCall {
            command: self.command,
            stderr: self.stderr,
        });
        error
    }

    /// What kubectl said, in one line, its client noise dropped (cluster_failure.rs).
    pub(crate) fn one_line(&self) -> String {
        crate::cluster_failure::classify(&self.stderr).line
    }

    /// `kubectl get namespace x`: the call without its flags, for the one line.
    fn verb(&self) -> String {
        let program = self.command.split(' ').next().unwrap_or("kubectl");
        let program = program
            .trim_matches('\'')
            .rsplit('/')
            .next()
            .unwrap_or(program);
        let tool = if program.contains("helm") {
            "helm"
        } else {
            "kubectl"
        };
        format!("{tool} {}", verb_words(self.command.split(' ').skip(1)))
    }
}

/// The first words of a kubectl call, its flags (and the values of `-c`, `-o`, `-f`, `-l`,
/// `-n`) left out: `kubectl exec <pod> find`.
fn verb_words<'a>(words: impl Iterator<Item = &'a str>) -> String {
    let mut out = Vec::new();
    let mut skip_value = false;
    for word in words {
        if skip_value {
            skip_value = false;
        } else if ["-c", "-o", "-f", "-l", "-n"].contains(&word) {
            skip_value = true;
        } else if !word.starts_with('-') {
            out.push(word);
        }
        if out.len() == 4 {
            break;
        }
    }
    out.join(" ")
}

/// `get <kind> <name> -o json --ignore-not-found`: kubectl prints nothing (and succeeds)
/// when the object does not exist, so "not found" is read from the structure of the
/// answer, never from the wording of an error.
pub fn get_json(kind: &str, name: &str) -> Vec<String> {
    args(&["get", kind, name, "-o", "json", "--ignore-not-found"])
}

/// The object a [`get_json`] call answered, or `None` when there is none.
pub fn found(stdout: &str) -> Result<Option<serde_json::Value>> {
    if stdout.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str(stdout).map(Some).map_err(|_| {
        Error::new(
            Code::KubectlFailed,
            "kubectl answered `get -o json` with something that is not JSON.",
            "Check that KUBECTL/--kubectl names a real kubectl.",
        )
    })
}

/// An argument list from string slices: the one builder every kubectl call uses.
pub fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

/// A path for `kubectl cp`: absolute, so kubectl never reads `a:b` as `pod:path`.
pub(crate) fn local_path(path: &std::path::Path) -> Result<String> {
    let text = path.display().to_string();
    if !path.is_absolute() || text.contains(':') {
        return Err(Error::invalid_args(
            format!("{text} cannot be copied with kubectl cp: the path must be absolute and contain no ':'."),
            "Move the prepared kit to a path without ':'.",
        ));
    }
    Ok(text)
}
