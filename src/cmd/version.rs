//! `helm nvflare version`.

use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;

#[derive(clap::Args, Debug)]
#[command(about = "Print the plugin version.")]
pub struct Args {}

pub fn exec(_args: Args, out: &Output, _env: &HelmEnv) -> Result<i32> {
    out.result(&helm_nvflare::version());
    Ok(0)
}
