//! `helm-nvflare`: the binary behind `helm nvflare`. The work is in the library; this is
//! the command line (clap) over it.

mod cli;
mod cmd;

fn main() {
    // A bug still ends in a short, clear message instead of a backtrace; the panic then
    // unwinds, so temporary folders are removed on the way out (exit 101).
    std::panic::set_hook(Box::new(|info| {
        // The panic hook: the output layer may be what panicked.
        #[allow(clippy::disallowed_macros)]
        {
            eprintln!(
            "error[INTERNAL]: helm-nvflare hit a bug: {}\n\nhint: Please report it with the command you ran.",
            helm_nvflare::terminal::escape(&info.to_string())
        );
        }
    }));
    std::process::exit(cli::run(std::env::args_os()));
}
