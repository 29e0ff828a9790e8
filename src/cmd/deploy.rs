//! `helm nvflare deploy`: exit 0 when every participant is deployed (or unchanged) and
//! verifies, 1 when any failed, 4 for bad input.

use std::path::PathBuf;

use helm_nvflare::deploy;
use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;

use super::shared::DeployArgs;

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
    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    helm_nvflare::interrupt::cleans_up_itself();
    let settings = args.deploy.settings(args.source, env);
    let report = deploy::deploy(&settings, out)?;
    out.result(&report);
    Ok(helm_nvflare::output::Report::exit_code(&report))
}
