//! `helm nvflare deploy`: exit 0 when every participant is deployed (or unchanged) and
//! verifies, 1 when any failed, 4 for bad input.

use std::path::PathBuf;

use helm_nvflare::deploy::{self, DeploySettings};
use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;
use helm_nvflare::prepared::Method;
use helm_nvflare::targets::CommandDefaults;

use super::shared::{parse_duration, ClusterSelection, MethodArg};

#[derive(clap::Args, Debug)]
#[command(
    about = "Stage, install and verify a prepared kit, or a whole prepared federation across clusters.",
    after_help = "For each participant: stage (creating the namespace when missing), helm upgrade --install,
wait for the rollout, verify. A federation's server goes first; its clients follow in
parallel once it is ready. A second deploy with nothing changed changes nothing.

Examples:
  helm nvflare deploy prepared/site-1 -n nvflare --create-pvc
  helm nvflare deploy prepared/ --targets targets.yaml --parallel 8
  helm nvflare deploy prepared/site-1 --chart oci://registry.example.com/fl/site-1/nvflare-client --version 1.0.0 --verify --keyring pubring.gpg
  helm nvflare deploy prepared/ --targets targets.yaml --dry-run   # every command, nothing run"
)]
pub struct Args {
    /// A prepared kit, or a folder of prepared kits (prepare's output for a prod_NN folder).
    #[arg(value_name = "PREPARED")]
    pub source: PathBuf,
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

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    helm_nvflare::interrupt::cleans_up_itself();
    let cluster = args.cluster.settings(env, args.dry_run, args.timeout);
    let settings = DeploySettings {
        defaults: CommandDefaults {
            namespace: cluster.requested_namespace(),
            context: cluster.requested_context(),
            method: args.method.map(Method::from),
            values: args.values,
            chart: args.chart,
            version: args.version,
            keyring: args
                .verify
                .then(|| args.keyring.unwrap_or_else(|| env.default_keyring.clone())),
            home: env.home.clone(),
        },
        source: args.source,
        targets_file: args.targets,
        cluster,
        helm: args.helm,
        sets: args.set,
        create_pvc: args.create_pvc,
        size: args.size,
        storage_class: args.storage_class,
        stage_image: args.stage_image,
        run_as_user: args.run_as_user,
        timeout_seconds: args.timeout,
        parallel: args.parallel,
    };
    let report = deploy::deploy(&settings, out)?;
    out.result(&report);
    Ok(helm_nvflare::output::Report::exit_code(&report))
}
