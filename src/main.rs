//! `helm-nvflare`: the binary behind `helm nvflare`.

mod chart;
mod cli;
mod cmd;
mod docker_script;
mod error;
mod federation;
mod fs_tree;
mod image;
mod interrupt;
mod json_file;
mod kit;
mod kubectl;
mod names;
mod output;
mod package;
mod parent_process;
mod patch;
mod prepare;
mod registry;
mod runtime_config;
mod shell;
mod stage;
mod terminal;
mod tool_state;
mod verify;
mod yaml_writer;

fn main() {
    // A bug still ends in a short, clear message instead of a backtrace; the panic then
    // unwinds, so temporary folders are removed on the way out (exit 101).
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "error[INTERNAL]: helm-nvflare hit a bug: {}\n\nhint: Please report it with the command you ran.",
            terminal::escape(&info.to_string())
        );
    }));
    std::process::exit(cli::run(std::env::args_os()));
}
