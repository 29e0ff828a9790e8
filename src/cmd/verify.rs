//! `helm nvflare verify`: exit 0 when nothing fails, 1 when a check fails, 4 for bad input.

use std::path::PathBuf;

use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;
use helm_nvflare::verify::{self, VerifySettings};

use super::shared::{parse_days, parse_duration, ClusterSelection};

#[derive(clap::Args, Debug)]
#[command(
    about = "Check a deployment and a prepared kit, and say what is wrong.",
    after_help = "Each check is PASS, WARN (works, but needs attention: a certificate expiring within
30 days), FAIL (broken: exit 1) or SKIP (could not be checked here: no kubeconfig
context, or no ready pod to look into). Exit 0 when nothing fails.

Examples:
  helm nvflare verify prepared/site-1 -n nvflare
  helm nvflare verify prepared/site-1 --offline      # the kit and chart only, no cluster
  helm nvflare verify prepared/site-1 -f my-values.yaml --offline   # check a values file too"
)]
pub struct Args {
    /// The prepared kit the release was installed from.
    #[arg(value_name = "PREPARED_KIT")]
    pub kit: PathBuf,
    /// verify only reads: no --dry-run.
    #[command(flatten)]
    pub cluster: ClusterSelection,
    /// Helm release [default: the release prepare named].
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
    /// How long to wait for the rollout (and for each kubectl call).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: u64,
    /// Only the checks that need no cluster.
    #[arg(long)]
    pub offline: bool,
    /// A certificate (the kit's, its root CA, its job CA) expiring within this is a warning.
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_days)]
    pub warn_expiry: i64,
    /// A values file the release is installed with, as for `helm install -f` (repeat for
    /// more): its keys are checked against the chart's, and its ports against the kit.
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    let settings = VerifySettings {
        kit: args.kit,
        cluster: args.cluster.settings(env, false, args.timeout),
        release: args.release,
        timeout_seconds: args.timeout,
        offline: args.offline,
        warn_expiry_days: args.warn_expiry,
        values_files: args.values,
    };
    let report = verify::verify(&settings)?;
    out.result(&report);
    Ok(report.exit_code())
}
