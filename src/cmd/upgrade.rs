//! `helm nvflare upgrade`: exit 0 when every participant is upgraded (or unchanged) and
//! verifies, 1 when any failed or was rolled back, 4 for bad input.

use std::path::PathBuf;

use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;
use helm_nvflare::upgrade::{self, UpgradeSettings};

use super::shared::{parse_size, DeployArgs};

#[derive(clap::Args, Debug)]
#[command(
    about = "Move a running participant, or a running federation, to new prepared kits: diff, back up, restage, helm upgrade, roll back if not ready.",
    after_help = "First, for every participant, read only: what is deployed, what the new kit changes
(certificates, comm_config, image, NVFlare layout, values; startup/ files by fingerprint
only), and whether job pods run (refused unless --force). Then the server, then the
clients: back up the server's workspace (--backup-dir), keep the running revision's
startup/ and local/ on the PVC, restage, helm upgrade --wait, verify. A revision that does
not become ready is rolled back, with the previous files staged again.

Examples:
  helm nvflare upgrade prepared-v2/ --targets targets.yaml --dry-run   # the diff and the plan
  helm nvflare upgrade prepared-v2/ --targets targets.yaml --backup-dir /srv/backups
  helm nvflare upgrade prepared-v2/server -n nvflare --timeout 10m"
)]
pub struct Args {
    /// The new prepared kit, or folder of prepared kits.
    #[arg(value_name = "PREPARED")]
    pub source: PathBuf,
    /// Where the server's backup goes: nvflare-backup-<release>-<UTC time>.tgz.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub backup_dir: PathBuf,
    /// The most the server's backup may unpack to.
    #[arg(long, value_name = "SIZE", default_value = "16Gi", value_parser = parse_size)]
    pub max_backup_size: u64,
    /// Upgrade even while job pods run (they lose their parent).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    helm_nvflare::interrupt::cleans_up_itself();
    let settings = UpgradeSettings {
        deploy: args.deploy.settings(args.source, env),
        backup_dir: args.backup_dir,
        max_backup_bytes: args.max_backup_size,
        force: args.force,
    };
    let report = upgrade::upgrade(&settings, out)?;
    out.result(&report);
    Ok(helm_nvflare::output::Report::exit_code(&report))
}
