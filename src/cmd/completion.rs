//! `helm nvflare completion <shell>`.

use clap::CommandFactory;
use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;

#[derive(clap::Args, Debug)]
#[command(about = "Print a shell completion script (bash, zsh, fish, elvish, powershell).")]
pub struct Args {
    /// The shell to print completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn exec(args: Args, _out: &Output, _env: &HelmEnv) -> Result<i32> {
    let mut command = super::Cli::command();
    clap_complete::generate(args.shell, &mut command, "helm-nvflare", &mut std::io::stdout());
    Ok(0)
}
