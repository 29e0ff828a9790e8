//! Running the command line: parse (clap), read Helm's environment once, run the
//! command, and turn any error into its message and exit code, in one place.

use std::ffi::OsString;

use clap::Parser;
use helm_nvflare::error::{Error, EXIT_USER_ERROR};
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::{Format, Output};

use crate::cmd::Cli;

/// Parses the arguments and runs the command; returns the process exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    let args: Vec<OsString> = args.into_iter().collect();
    // Helm's completion protocol, not commands of ours (see cmd/complete.rs).
    match args.get(1).and_then(|a| a.to_str()) {
        Some("__complete") => {
            let words: Vec<String> = args[2..]
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            // Helm's completion protocol: plain lines on stdout, not the Output envelope.
            #[allow(clippy::disallowed_macros)]
            {
                println!("{}", crate::cmd::complete::complete(&words));
            }
            return 0;
        }
        Some("__completion-yaml") => {
            #[allow(clippy::disallowed_macros)]
            {
                print!("{}", crate::cmd::complete::completion_yaml());
            }
            return 0;
        }
        _ => {}
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return usage_error(err, &args),
    };
    let env = HelmEnv::from_process();
    let out = Output::new(cli.format.into()).with_debug(env.debug);
    match cli.command.exec(&out, &env) {
        Ok(code) => code,
        Err(err) => {
            out.error(&err);
            err.code.exit_code()
        }
    }
}

/// Help and version go to stdout with exit 0; a usage error is INVALID_ARGS, exit 4.
fn usage_error(err: clap::Error, args: &[OsString]) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return 0;
    }
    let rendered = err.render().to_string();
    // The first line, and the indented lines after it (the missing arguments, by name).
    let mut lines = rendered.lines();
    let mut message = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    let details: Vec<&str> = lines
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    if !details.is_empty() {
        message = format!("{} {}", message.trim_end(), details.join(", "));
    }
    let usage = rendered
        .lines()
        .find(|l| l.starts_with("Usage: "))
        .unwrap_or("Usage: helm nvflare <COMMAND>");
    let hint = format!("{usage}. Run `helm nvflare --help` for every command and flag.");
    let format = if wants_json(args) {
        Format::Json
    } else {
        Format::Txt
    };
    Output::new(format).error(&Error::invalid_args(message, hint));
    EXIT_USER_ERROR
}

fn wants_json(args: &[OsString]) -> bool {
    args.windows(2)
        .any(|w| w[0] == "--format" && w[1] == "json")
        || args.iter().any(|a| a == "--format=json")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        crate::cmd::Cli::command().debug_assert();
    }
}
