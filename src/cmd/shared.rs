//! Flags more than one command takes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use std::io::Read;

use helm_nvflare::error::{Error, Result};
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::kubectl::ClusterSettings;
use helm_nvflare::package::ChartVersions;
use helm_nvflare::provenance::{keyring, SigningKey};
use helm_nvflare::registry::credentials::Credentials;
use helm_nvflare::registry::{RegistryAccess, TlsSettings};

#[derive(Args, Debug, Clone, Default)]
pub struct ChartVersionArgs {
    /// Chart version written into the archive's Chart.yaml (strict semver) [default: the chart's].
    #[arg(long, value_name = "SEMVER")]
    pub version: Option<String>,
    /// appVersion written into the archive's Chart.yaml [default: the chart's].
    #[arg(long, value_name = "VERSION")]
    pub app_version: Option<String>,
}

impl ChartVersionArgs {
    pub fn versions(&self) -> ChartVersions {
        ChartVersions {
            version: self.version.clone(),
            app_version: self.app_version.clone(),
        }
    }

    pub fn given(&self) -> bool {
        self.version.is_some() || self.app_version.is_some()
    }
}

/// Which cluster to talk to. Helm takes `-n` and `--kube-context` itself and passes them
/// as HELM_NAMESPACE and HELM_KUBECONTEXT; these flags are for running the binary directly.
#[derive(Args, Debug, Clone)]
pub struct ClusterSelection {
    /// Namespace [default: HELM_NAMESPACE (helm's -n), else the kit's].
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// kubeconfig context [default: HELM_KUBECONTEXT (helm's --kube-context)].
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// kubectl to run: a name on PATH (kubectl, oc) or a path [default: KUBECTL, else kubectl].
    #[arg(long, value_name = "CMD")]
    pub kubectl: Option<String>,
    /// How long one read or write of the cluster may take (waits get --timeout).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: u64,
}

impl ClusterSelection {
    pub fn settings(&self, env: &HelmEnv, dry_run: bool, timeout_seconds: u64) -> ClusterSettings {
        ClusterSettings {
            kubectl: self.kubectl.clone(),
            namespace: self.namespace.clone(),
            context: self.context.clone(),
            kubeconfig: None,
            helm: env.clone(),
            dry_run,
            timeout_seconds,
            request_timeout_seconds: self.request_timeout,
        }
    }
}

/// The longest time limit taken: a day is longer than any stage, verify or push.
const MAX_TIMEOUT_SECONDS: u64 = 24 * 3600;

/// `90`, `90s`, `5m`, `1h` → seconds, at most a day.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let (number, unit) = text.trim().split_at(
        text.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.trim().len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 5m or 1h"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?} is not a duration like 90s, 5m or 1h")),
    };
    match n.checked_mul(factor) {
        Some(0) => Err("the timeout must be more than 0s".into()),
        Some(seconds) if seconds <= MAX_TIMEOUT_SECONDS => Ok(seconds),
        _ => Err(format!("{text:?} is longer than the 24h maximum")),
    }
}

/// A kit argument given positionally or as `--kit`, exactly once.
pub fn one_of(
    positional: &Option<PathBuf>,
    flag: &Option<PathBuf>,
) -> helm_nvflare::error::Result<PathBuf> {
    use helm_nvflare::error::Error;
    match (positional, flag) {
        (Some(_), Some(_)) => Err(Error::invalid_args(
            "Specify the startup kit only once.",
            "Use either positional kit or --kit.",
        )),
        (Some(kit), None) | (None, Some(kit)) => Ok(kit.clone()),
        (None, None) => Err(Error::invalid_args(
            "Missing startup kit directory.",
            "Run helm nvflare prepare <startup-kit-dir>.",
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_never_overflow() {
        use super::parse_duration;
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("24h"), Ok(86400));
        assert!(parse_duration("25h").is_err());
        assert!(parse_duration("99999999999999999h").is_err());
        assert!(parse_duration("99999999999999999999999s").is_err());
        assert!(parse_duration("0s").is_err());
    }
}

/// Helm's signing flags (`helm package --sign --key NAME --keyring FILE
/// [--passphrase-file FILE]`), for commands that sign as they write.
#[derive(Args, Debug, Clone, Default)]
pub struct SignArgs {
    /// Sign each archive into <archive>.prov (Helm provenance, checked by `helm verify`,
    /// `helm install --verify` and `helm nvflare verify-chart`).
    #[arg(long, requires_all = ["key", "keyring"])]
    pub sign: bool,
    /// The signing key: its user ID, part of it (as Helm's --key), or its fingerprint.
    #[arg(long, value_name = "NAME", requires = "sign")]
    pub key: Option<String>,
    /// Keyring holding the secret key (`gpg --export-secret-keys > secring.gpg`).
    #[arg(long, value_name = "FILE", requires = "sign")]
    pub keyring: Option<PathBuf>,
    /// File whose first line is the key's passphrase; `-` reads it from stdin.
    #[arg(long, value_name = "FILE", requires = "sign")]
    pub passphrase_file: Option<PathBuf>,
}

impl SignArgs {
    /// The unlocked key, loaded before anything is written; None without --sign.
    pub fn signing_key(&self) -> Result<Option<Arc<SigningKey>>> {
        let (true, Some(key), Some(keyring)) = (self.sign, &self.key, &self.keyring) else {
            return Ok(None);
        };
        let passphrase = self.passphrase_file.as_deref();
        Ok(Some(Arc::new(load_key(keyring, key, passphrase)?)))
    }
}

/// The same key flags for a command whose whole job is signing (no --sign switch).
#[derive(Args, Debug, Clone)]
pub struct SigningKeyArgs {
    /// The signing key: its user ID, part of it (as Helm's --key), or its fingerprint.
    #[arg(long, value_name = "NAME", required = true)]
    pub key: String,
    /// Keyring holding the secret key (`gpg --export-secret-keys > secring.gpg`).
    #[arg(long, value_name = "FILE", required = true)]
    pub keyring: PathBuf,
    /// File whose first line is the key's passphrase; `-` reads it from stdin.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

impl SigningKeyArgs {
    pub fn load(&self) -> Result<SigningKey> {
        load_key(&self.keyring, &self.key, self.passphrase_file.as_deref())
    }
}

fn load_key(keyring: &Path, key: &str, passphrase_file: Option<&Path>) -> Result<SigningKey> {
    let passphrase = passphrase_file.map(keyring::read_passphrase).transpose()?;
    keyring::signing_key(keyring, key, passphrase)
}

/// Helm's registry flags (`helm push` / `helm pull`), for commands that talk to one.
#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// Talk plain HTTP to the registry.
    #[arg(long)]
    pub plain_http: bool,
    /// CA certificate (PEM) to trust for the registry.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Skip TLS certificate checks (testing only).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Registry user name; the password is read from stdin (--password-stdin).
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from stdin.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Time limit for the whole command, e.g. 90s, 5m (each connect 10s, each read 30s).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: u64,
}

impl RegistryArgs {
    pub fn access(self, env: &HelmEnv) -> Result<RegistryAccess> {
        Ok(RegistryAccess {
            tls: TlsSettings {
                plain_http: self.plain_http,
                ca_file: self.ca_file,
                cert_file: self.cert_file,
                key_file: self.key_file,
                insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            },
            credentials: password_from_stdin(self.username)?,
            credential_files: [env.registry_config.clone(), env.docker_config.clone()]
                .into_iter()
                .flatten()
                .collect(),
            timeout: std::time::Duration::from_secs(self.timeout),
        })
    }
}

/// `--username` with the password piped in (`--password-stdin`).
fn password_from_stdin(username: Option<String>) -> Result<Option<Credentials>> {
    let Some(username) = username else {
        return Ok(None);
    };
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|e| {
            Error::invalid_args(
                format!("Cannot read the password from stdin: {e}"),
                "Pipe the password: `echo \"$PASS\" | helm nvflare push ... --password-stdin`.",
            )
        })?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Error::invalid_args(
            "--password-stdin read an empty password.",
            "Pipe the password into the command.",
        ));
    }
    Ok(Some(Credentials::basic(username, password)))
}

/// `--method` of stage and deploy.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum MethodArg {
    Pvc,
    Configmap,
}

impl From<MethodArg> for helm_nvflare::prepared::Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Pvc => helm_nvflare::prepared::Method::Pvc,
            MethodArg::Configmap => helm_nvflare::prepared::Method::Configmap,
        }
    }
}

/// `30d`, `2w`, `90` (days) → days, at most ten years.
pub fn parse_days(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number of days (30d, 2w, 90)"))?;
    let days = match unit {
        "" | "d" => n,
        "w" => n * 7,
        _ => return Err(format!("{text:?}: use d (days) or w (weeks), e.g. 30d")),
    };
    if days > 3650 {
        return Err(format!("{text:?} is more than ten years"));
    }
    Ok(days)
}

/// What deploy and upgrade both take: where each participant runs, how it is staged, the
/// chart and its values, Helm, timeouts.
#[derive(Args, Debug, Clone)]
pub struct DeployArgs {
    /// Where each participant runs (README: Deploy a federation).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterSelection,
    /// pvc: copy onto the workspace PVC; configmap: local/ as a ConfigMap, startup/ as a
    /// Secret [default: pvc, or the targets file's].
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// Create the workspace PVC when it is missing (stage's --create-pvc).
    #[arg(long)]
    pub create_pvc: bool,
    /// Size of a PVC made by --create-pvc.
    #[arg(long, value_name = "QUANTITY", default_value = "10Gi")]
    pub size: String,
    /// storageClassName of a PVC made by --create-pvc.
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// Stage's helper pod image.
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub stage_image: String,
    /// UID of stage's helper pod.
    #[arg(long, value_name = "UID")]
    pub run_as_user: Option<i64>,
    /// A pushed chart instead of the prepared one (one kit; a federation names charts in
    /// its targets file).
    #[arg(long, value_name = "OCI_REFERENCE")]
    pub chart: Option<String>,
    /// The pushed chart's version.
    #[arg(long, value_name = "VERSION", requires = "chart")]
    pub version: Option<String>,
    /// Verify the pushed chart's provenance before installing it (Helm's --verify).
    #[arg(long, requires = "chart")]
    pub verify: bool,
    /// The keyring --verify checks against [default: Helm's, ~/.gnupg/pubring.gpg].
    #[arg(long, value_name = "FILE", requires = "verify")]
    pub keyring: Option<PathBuf>,
    /// A values file for Helm (repeat for more); checked against the chart first.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// A value for Helm, as `helm --set` takes it (repeat for more).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The Helm to run [default: HELM_BIN, the Helm running this plugin, else helm].
    #[arg(long, value_name = "PATH")]
    pub helm: Option<String>,
    /// How long each wait may take (the helper pod, Helm, the rollout).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: u64,
    /// Clients deployed at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub parallel: usize,
    /// Print every kubectl and helm command, and every manifest (secrets redacted); run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl DeployArgs {
    pub fn settings(self, source: PathBuf, env: &HelmEnv) -> helm_nvflare::release::DeploySettings {
        let cluster = self.cluster.settings(env, self.dry_run, self.timeout);
        helm_nvflare::release::DeploySettings {
            defaults: helm_nvflare::targets::CommandDefaults {
                namespace: cluster.requested_namespace(),
                context: cluster.requested_context(),
                method: self.method.map(helm_nvflare::prepared::Method::from),
                values: self.values,
                chart: self.chart,
                version: self.version,
                keyring: self
                    .verify
                    .then(|| self.keyring.unwrap_or_else(|| env.default_keyring.clone())),
                home: env.home.clone(),
            },
            source,
            targets_file: self.targets,
            cluster,
            helm: self.helm,
            sets: self.set,
            create_pvc: self.create_pvc,
            size: self.size,
            storage_class: self.storage_class,
            stage_image: self.stage_image,
            run_as_user: self.run_as_user,
            timeout_seconds: self.timeout,
            parallel: self.parallel,
        }
    }
}

/// `16Gi`, `500Mi`, `1G`, `1024` → bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (16Gi, 500Mi, 1G)"))?;
    let scale: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "{text:?}: use Ki, Mi, Gi, Ti (or K, M, G, T), e.g. 16Gi"
            ))
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// A kit's workspace PVC through stage's helper pod (backup, restore).
#[derive(Args, Debug, Clone)]
pub struct WorkspaceArgs {
    #[command(flatten)]
    pub cluster: ClusterSelection,
    /// The helper pod's image.
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub stage_image: String,
    /// Time limit for the helper pod to start and for each copy, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: u64,
    /// The most a backup may unpack to.
    #[arg(long, value_name = "SIZE", default_value = "16Gi", value_parser = parse_size)]
    pub max_size: u64,
}

impl WorkspaceArgs {
    pub fn settings(&self, kit: PathBuf, env: &HelmEnv) -> helm_nvflare::stage::WorkspaceSettings {
        helm_nvflare::stage::WorkspaceSettings {
            kit,
            cluster: self.cluster.settings(env, false, self.timeout),
            image: self.stage_image.clone(),
            timeout_seconds: self.timeout,
        }
    }
}
