//! `helm nvflare unstage`.

use std::path::PathBuf;

use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;
use helm_nvflare::stage::{self, UnstageSettings};

use super::shared::{parse_duration, ClusterSelection};

#[derive(clap::Args, Debug)]
#[command(
    about = "Remove what `stage` put in the cluster.",
    after_help = "Example:
  helm nvflare unstage prepared/site-1"
)]
pub struct Args {
    /// A kit staged with `helm nvflare stage`.
    #[arg(value_name = "PREPARED_KIT")]
    pub kit: PathBuf,
    #[command(flatten)]
    pub cluster: ClusterSelection,
    /// Print every kubectl command instead of running it.
    #[arg(long)]
    pub dry_run: bool,
    /// Helper pod image (pvc method).
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub image: String,
    /// Time limit for each kubectl call and for the helper pod to start, e.g. 90s, 5m.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: u64,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    helm_nvflare::interrupt::cleans_up_itself();
    let settings = UnstageSettings {
        kit: args.kit,
        cluster: args.cluster.settings(env, args.dry_run, args.timeout),
        image: args.image,
        timeout_seconds: args.timeout,
    };
    out.result(&stage::unstage(&settings, out)?);
    Ok(0)
}
