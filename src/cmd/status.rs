//! `helm nvflare status`: one row per participant; `--watch` refreshes it.

use std::path::PathBuf;

use helm_nvflare::error::{Error, Result};
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::{Format, Output};
use helm_nvflare::status::{self, StatusSettings};
use helm_nvflare::targets::CommandDefaults;

use super::shared::{parse_duration, ClusterSelection};

#[derive(clap::Args, Debug)]
#[command(
    about = "Show each participant: release, revision, pods, staged files, certificate expiry, registration.",
    after_help = "STAGED is yes (the staged files are the prepared kit's), stale (the prepared kit changed
since it was staged: deploy again) or missing. REGISTERED is, for a client, yes when its
parent logged that it registered with the server, else no with the last connection error
it logged; for a server, how many clients joined.

Examples:
  helm nvflare status prepared/site-1 -n nvflare
  helm nvflare status prepared/ --targets targets.yaml --watch"
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
    /// Refresh the table until interrupted (text output only).
    #[arg(long)]
    pub watch: bool,
    /// How often --watch refreshes.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub interval: u64,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    if args.watch && out.format() == Format::Json {
        return Err(Error::invalid_args(
            "--watch refreshes a table; --format json prints one envelope.",
            "Drop --watch, and run status again when you want a new envelope.",
        ));
    }
    let cluster = args.cluster.settings(env, false, 60);
    let settings = StatusSettings {
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
    };
    if !args.watch {
        out.result(&status::status(&settings)?);
        return Ok(0);
    }
    helm_nvflare::interrupt::cleans_up_itself();
    loop {
        let report = status::status(&settings)?;
        out.refresh(&report);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(args.interval.max(1));
        while std::time::Instant::now() < deadline {
            if helm_nvflare::interrupt::check().is_err() {
                return Ok(0);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
