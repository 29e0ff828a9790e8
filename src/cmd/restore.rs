//! `helm nvflare restore`: exit 0 with the backup on the PVC, 4 for a backup that is not
//! this participant's or not one we wrote.

use std::path::PathBuf;

use helm_nvflare::backup::{self, RestoreSettings};
use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;

use super::shared::WorkspaceArgs;

#[derive(clap::Args, Debug)]
#[command(
    about = "Put a backup back onto a participant's workspace PVC (a rollback, or a move to a new cluster).",
    after_help = "The whole archive is checked first: it must be this participant's, and hold only files
and folders with plain paths, within --max-size. Each top-level folder or file in it
replaces the one on the PVC; startup/ and local/ are staging's and never restored. The
parent must not be running (scale it to 0, or restore before deploy), unless --force.

Examples:
  helm nvflare restore nvflare-backup-server-20261201T101500Z.tgz prepared/server -n nvflare
  helm nvflare stage prepared/server -n nvflare --create-pvc   # a new cluster: stage, restore, deploy
  helm nvflare restore nvflare-backup-server-20261201T101500Z.tgz prepared/server -n nvflare"
)]
pub struct Args {
    /// An archive `helm nvflare backup` or `upgrade` wrote.
    #[arg(value_name = "BACKUP")]
    pub backup: PathBuf,
    /// The participant's prepared kit.
    #[arg(value_name = "PREPARED_KIT")]
    pub kit: PathBuf,
    /// Restore even while the parent pod runs.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    helm_nvflare::interrupt::cleans_up_itself();
    let settings = RestoreSettings {
        backup: args.backup,
        workspace: args.workspace.settings(args.kit, env),
        max_bytes: args.workspace.max_size,
        force: args.force,
    };
    out.result(&backup::restore(&settings, out)?);
    Ok(0)
}
