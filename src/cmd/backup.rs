//! `helm nvflare backup`: exit 0 with the archive written and checked.

use std::path::PathBuf;

use helm_nvflare::backup::{self, BackupSettings};
use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;

use super::shared::WorkspaceArgs;

#[derive(clap::Args, Debug)]
#[command(
    about = "Copy what a participant keeps on its workspace PVC (job history, snapshots, transfer/, logs) to a local archive.",
    after_help = "Everything on the PVC but the staged startup/ and local/ (the private key stays in the
cluster), through stage's helper pod, into nvflare-backup-<release>-<UTC time>.tgz. The
archive is read back and its file list compared with the PVC's before the command succeeds.

Examples:
  helm nvflare backup prepared/server -n nvflare
  helm nvflare backup prepared/server -n nvflare --backup-dir /srv/backups"
)]
pub struct Args {
    /// The participant's prepared kit.
    #[arg(value_name = "PREPARED_KIT")]
    pub kit: PathBuf,
    /// Where the archive goes.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub backup_dir: PathBuf,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    helm_nvflare::interrupt::cleans_up_itself();
    let settings = BackupSettings {
        workspace: args.workspace.settings(args.kit, env),
        backup_dir: args.backup_dir,
        max_bytes: args.workspace.max_size,
    };
    out.result(&backup::backup(&settings, out)?);
    Ok(0)
}
