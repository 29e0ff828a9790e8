//! `helm nvflare completion <shell>`.

use crate::cli::{self, CompletionArgs};

pub fn run(args: CompletionArgs) -> i32 {
    let mut command = cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "helm-nvflare",
        &mut std::io::stdout(),
    );
    0
}
