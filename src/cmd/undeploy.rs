//! `helm nvflare undeploy`: helm uninstall, then unstage; the workspace PVC stays.

use std::path::PathBuf;

use helm_nvflare::error::{Error, Result};
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;
use helm_nvflare::targets::CommandDefaults;
use helm_nvflare::undeploy::{self, UndeploySettings};

use super::shared::{parse_duration, ClusterSelection};

#[derive(clap::Args, Debug)]
#[command(
    about = "Uninstall each participant's release and remove what was staged; the workspace PVC stays.",
    after_help = "The workspace PVC holds the server's job history and snapshots: it is kept unless
--delete-workspace --yes.

Examples:
  helm nvflare undeploy prepared/site-1 -n nvflare
  helm nvflare undeploy prepared/ --targets targets.yaml
  helm nvflare undeploy prepared/ --targets targets.yaml --delete-workspace --yes"
)]
pub struct Args {
    /// A prepared kit, or a folder of prepared kits.
    #[arg(value_name = "PREPARED")]
    pub source: PathBuf,
    /// Where each participant runs (as for deploy).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    #[command(flatten)]
    pub cluster: ClusterSelection,
    /// The Helm to run [default: HELM_BIN, else helm].
    #[arg(long, value_name = "PATH")]
    pub helm: Option<String>,
    /// Unstage's helper pod image.
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub stage_image: String,
    /// How long each wait may take.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: u64,
    /// Also delete the workspace PVC, and the job history on it (needs --yes).
    #[arg(long)]
    pub delete_workspace: bool,
    /// Confirm --delete-workspace.
    #[arg(long)]
    pub yes: bool,
    /// Print every command; run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    if args.delete_workspace && !args.yes {
        return Err(Error::invalid_args(
            "--delete-workspace deletes the workspace PVC and the job history on it; it needs --yes.",
            "Add --yes to confirm, or leave --delete-workspace out to keep the PVC.",
        ));
    }
    helm_nvflare::interrupt::cleans_up_itself();
    let cluster = args.cluster.settings(env, args.dry_run, args.timeout);
    let settings = UndeploySettings {
        defaults: CommandDefaults {
            namespace: cluster.requested_namespace(),
            context: cluster.requested_context(),
            home: env.home.clone(),
            ..CommandDefaults::default()
        },
        source: args.source,
        targets_file: args.targets,
        cluster,
        helm: args.helm,
        stage_image: args.stage_image,
        timeout_seconds: args.timeout,
        delete_workspace: args.delete_workspace,
    };
    let report = undeploy::undeploy(&settings, out)?;
    out.result(&report);
    Ok(helm_nvflare::output::Report::exit_code(&report))
}
