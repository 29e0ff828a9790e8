//! Command-line parsing (clap). Each subcommand's flags become a plain settings struct
//! that the command module hands to the core; the core never sees clap.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::cmd;
use crate::error::{Error, EXIT_USER_ERROR};
use crate::output::{self, Format};

#[derive(Parser, Debug)]
#[command(
    name = "helm nvflare",
    bin_name = "helm nvflare",
    version,
    about = "Prepare, package, publish, stage and verify NVIDIA FLARE deployments on Kubernetes",
    long_about = "Prepare, package, publish, stage and verify NVIDIA FLARE deployments on Kubernetes.\n\n\
        Turns the startup kits written by `nvflare provision` into per-participant Helm charts \
        (or Docker start scripts), the way `nvflare deploy prepare` does."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Prepare a server or client startup kit for the Kubernetes or Docker runtime.
    Prepare(PrepareArgs),
    /// Package a prepared chart as a versioned, reproducible, key-free .tgz.
    Package(PackageArgs),
    /// Push chart archives to an OCI registry, each participant under its own path.
    Push(PushArgs),
    /// Put a prepared kit's startup/ and local/ where the parent pod reads them.
    Stage(StageArgs),
    /// Remove what `stage` put in the cluster.
    Unstage(UnstageArgs),
    /// Check a deployment and a prepared kit, and say what is wrong.
    Verify(VerifyArgs),
    /// Print the plugin version.
    Version(VersionArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(CompletionArgs),
}

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// Startup kit folder (`<workspace>/<project>/prod_NN/<participant>`).
    #[arg(value_name = "KIT")]
    pub kit: Option<PathBuf>,
    /// Startup kit folder, as a flag (give it once: positionally or here).
    #[arg(long = "kit", value_name = "KIT")]
    pub kit_flag: Option<PathBuf>,
    /// Runtime config (k8s.yaml or a docker config) [default: <KIT>/config.yaml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where to write the prepared kit [default: <KIT>/prepared/<runtime>].
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Also package the chart, into <DIR> beside helm_chart/.
    #[arg(long)]
    pub package: bool,
    #[command(flatten)]
    pub versions: ChartVersionArgs,
    #[arg(long, value_enum, default_value_t = Format::Txt)]
    pub format: Format,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ChartVersionArgs {
    /// Chart version written into the archive's Chart.yaml (strict semver) [default: the chart's].
    #[arg(long, value_name = "SEMVER")]
    pub version: Option<String>,
    /// appVersion written into the archive's Chart.yaml [default: the chart's].
    #[arg(long, value_name = "VERSION")]
    pub app_version: Option<String>,
}

#[derive(Args, Debug)]
pub struct PackageArgs {
    /// A prepared kit (with helm_chart/) or a chart folder.
    #[arg(value_name = "PREPARED_KIT|CHART_DIR")]
    pub source: PathBuf,
    #[command(flatten)]
    pub versions: ChartVersionArgs,
    /// Folder to write <chart>-<version>.tgz into.
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub destination: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Txt)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Chart archives (.tgz), then the registry location `oci://<registry>[:port]/<path>`.
    #[arg(value_name = "CHART.tgz... oci://REGISTRY/PATH", num_args = 2.., required = true)]
    pub targets: Vec<String>,
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
    /// Time limit for the whole push, e.g. 90s, 5m (each connect 10s, each read 30s).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: u64,
    #[arg(long, value_enum, default_value_t = Format::Txt)]
    pub format: Format,
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
}

#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub selection: ClusterSelection,
    /// Print every kubectl command and manifest instead of running them.
    #[arg(long)]
    pub dry_run: bool,
}

impl ClusterArgs {
    pub fn settings(&self) -> crate::kubectl::ClusterSettings {
        crate::kubectl::ClusterSettings {
            dry_run: self.dry_run,
            ..self.selection.settings()
        }
    }
}

impl ClusterSelection {
    pub fn settings(&self) -> crate::kubectl::ClusterSettings {
        crate::kubectl::ClusterSettings {
            kubectl: self.kubectl.clone(),
            namespace: self.namespace.clone(),
            context: self.context.clone(),
            dry_run: false,
            timeout_seconds: 0,
        }
    }
}

#[derive(Args, Debug)]
pub struct StageArgs {
    /// A kit prepared for the k8s runtime (the --output of prepare).
    #[arg(value_name = "PREPARED_KIT")]
    pub kit: PathBuf,
    /// pvc: copy onto the workspace PVC; configmap: local/ as a ConfigMap, startup/ as a Secret.
    #[arg(long, value_enum, default_value = "pvc")]
    pub method: crate::stage::Method,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Workspace PVC [default: the chart's persistence.workspace.claimName].
    #[arg(long, value_name = "NAME")]
    pub pvc: Option<String>,
    /// Create the PVC when it is missing.
    #[arg(long)]
    pub create_pvc: bool,
    /// Size of a PVC made by --create-pvc.
    #[arg(long, value_name = "QUANTITY", default_value = "10Gi")]
    pub size: String,
    /// storageClassName of a PVC made by --create-pvc [default: the cluster's default class].
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// Helper pod image; it needs tar (kubectl cp).
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub image: String,
    /// How long to wait for the helper pod, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: u64,
    /// UID of the helper pod [default: the chart's securityContext.runAsUser, an OpenShift
    /// namespace's UID range, else 65534].
    #[arg(long, value_name = "UID")]
    pub run_as_user: Option<i64>,
    #[arg(long, value_enum, default_value_t = Format::Txt)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct UnstageArgs {
    /// A kit staged with `helm nvflare stage`.
    #[arg(value_name = "PREPARED_KIT")]
    pub kit: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Helper pod image (pvc method).
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub image: String,
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: u64,
    #[arg(long, value_enum, default_value_t = Format::Txt)]
    pub format: Format,
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

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The prepared kit the release was installed from.
    #[arg(value_name = "PREPARED_KIT")]
    pub kit: PathBuf,
    /// verify only reads: no --dry-run.
    #[command(flatten)]
    pub cluster: ClusterSelection,
    /// Helm release [default: the release prepare named].
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
    /// How long to wait for the rollout.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: u64,
    /// Only the checks that need no cluster.
    #[arg(long)]
    pub offline: bool,
    #[arg(long, value_enum, default_value_t = Format::Txt)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    #[arg(long, value_enum, default_value_t = Format::Txt)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell to print completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses the arguments and runs the command; returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return usage_error(err, &args),
    };
    match cli.command {
        Command::Prepare(args) => cmd::prepare::run(args),
        Command::Package(args) => cmd::package::run(args),
        Command::Push(args) => cmd::push::run(args),
        Command::Stage(args) => cmd::stage::run_stage(args),
        Command::Unstage(args) => cmd::stage::run_unstage(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Version(args) => cmd::version::run(args),
        Command::Completion(args) => cmd::completion::run(args),
    }
}

/// Help and version go to stdout with exit 0; a usage error is INVALID_ARGS, exit 4.
fn usage_error(err: clap::Error, args: &[OsString]) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return 0;
    }
    let rendered = err.render().to_string();
    let message = rendered
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    let usage = rendered
        .lines()
        .find(|l| l.starts_with("Usage: "))
        .unwrap_or("Usage: helm nvflare <COMMAND>");
    let hint = format!("{usage}. Run `helm nvflare --help` for every command and flag.");
    let format = if wants_json(args) {
        Format::Json
    } else {
        Format::Txt
    };
    output::print_error(format, &Error::invalid_args(message, hint));
    EXIT_USER_ERROR
}

fn wants_json(args: &[OsString]) -> bool {
    args.windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json")
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        super::command().debug_assert();
    }

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
