//! `helm nvflare images`: what a site's cluster pulls, for a mirror.

use std::path::PathBuf;

use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::images::{self, ImagesSettings};
use helm_nvflare::output::{Output, Report};

use super::shared::RegistryArgs;

#[derive(clap::Args, Debug)]
#[command(
    about = "List every image a site's cluster pulls (the parent, each study's jobs, the stage helper).",
    after_help = "Examples:
  helm nvflare images prepared/site-1
  helm nvflare images prepared/ --resolve          # each image's digest from its registry"
)]
pub struct Args {
    /// Prepared kits or folders of prepared kits.
    #[arg(value_name = "PREPARED", required = true, num_args = 1..)]
    pub sources: Vec<PathBuf>,
    /// Stage's helper pod image.
    #[arg(long, value_name = "IMAGE", default_value = "busybox:1.36")]
    pub stage_image: String,
    /// Ask each image's registry for its digest (credentials as for push).
    #[arg(long)]
    pub resolve: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    let settings = ImagesSettings {
        sources: args.sources,
        stage_image: args.stage_image,
        resolve: if args.resolve {
            Some(args.registry.access(env)?)
        } else {
            None
        },
    };
    let report = images::images(&settings)?;
    out.result(&report);
    Ok(report.exit_code())
}
