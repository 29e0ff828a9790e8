//! The command line: one file per command, each owning its flags (a clap `Args`) and an
//! `exec(args, &Output, &HelmEnv) -> Result<exit code>` that calls the library. The list
//! in `commands!` is the only place that names them all: a new command is a new file and
//! one line there.

pub mod complete;
mod shared;

use clap::Parser;
use helm_nvflare::error::Result;
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::{Format, Output};

macro_rules! commands {
    ($($variant:ident => $module:ident,)*) => {
        $(pub mod $module;)*

        #[derive(clap::Subcommand, Debug)]
        pub enum Command {
            $($variant($module::Args),)*
        }

        impl Command {
            pub fn exec(self, out: &Output, env: &HelmEnv) -> Result<i32> {
                match self {
                    $(Command::$variant(args) => $module::exec(args, out, env),)*
                }
            }
        }
    };
}

commands! {
    Prepare => prepare,
    Package => package,
    Push => push,
    Sign => sign,
    Stage => stage,
    Unstage => unstage,
    Verify => verify,
    Deploy => deploy,
    Status => status,
    Undeploy => undeploy,
    Upgrade => upgrade,
    Backup => backup,
    Restore => restore,
    Images => images,
    Mirror => mirror,
    Bundle => bundle,
    VerifyChart => verify_chart,
    Version => version,
    Completion => completion,
}

#[derive(Parser, Debug)]
#[command(
    name = "helm nvflare",
    bin_name = "helm nvflare",
    version,
    about = "Prepare, package, publish, stage and verify NVIDIA FLARE deployments on Kubernetes",
    long_about = "Prepare, package, publish, stage and verify NVIDIA FLARE deployments on Kubernetes.\n\n\
        Turns the startup kits written by `nvflare provision` into per-participant Helm charts \
        (or Docker start scripts), the way `nvflare deploy prepare` does.",
    after_help = "Workflow, in order:
  helm nvflare prepare prod_00/site-1 --config k8s.yaml --output prepared/site-1
  helm nvflare package prepared/site-1 -d dist --version 1.0.0
  helm nvflare push dist oci://registry.example.com/fl
  (signed: package ... --sign --key NAME --keyring secring.gpg; a site checks with
   helm nvflare verify-chart oci://registry.example.com/fl/site-1/nvflare-client:1.0.0 --keyring pubring.gpg)
  helm nvflare stage prepared/site-1 -n nvflare
  helm upgrade --install site-1 prepared/site-1/helm_chart -n nvflare
  helm nvflare verify prepared/site-1 -n nvflare
  (or the last three for a whole federation, each participant where targets.yaml says:
   helm nvflare deploy prepared/ --targets targets.yaml; helm nvflare status prepared/ --targets targets.yaml)"
)]
pub struct Cli {
    /// Output: human-readable text, or one JSON envelope on stdout.
    #[arg(long, global = true, value_enum, default_value_t = FormatArg::Txt)]
    pub format: FormatArg,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    /// Human-readable text: `key: value` lines, or tables for federations and verify.
    Txt,
    /// One JSON envelope: `{"status":"ok","data":{...}}` or `{"status":"error","error":{...}}`.
    Json,
}

impl From<FormatArg> for Format {
    fn from(arg: FormatArg) -> Format {
        match arg {
            FormatArg::Txt => Format::Txt,
            FormatArg::Json => Format::Json,
        }
    }
}
