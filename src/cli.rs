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
    // Every command: none may leave a half-written file behind (interrupt.rs).
    helm_nvflare::interrupt::catch_interrupts();
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
    let (message, usage) = describe(&err);
    let hint = format!("{usage}. Run `helm nvflare --help` for every command and flag.");
    let format = if wants_json(args) {
        Format::Json
    } else {
        Format::Txt
    };
    Output::new(format).error(&Error::invalid_args(message, hint));
    EXIT_USER_ERROR
}

/// A usage error in one line, from clap's error kind and context (never its rendered text),
/// and the usage line of the command it concerns.
fn describe(err: &clap::Error) -> (String, String) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let get = |kind: ContextKind| -> Option<String> {
        match err.get(kind)? {
            ContextValue::String(s) => Some(s.clone()),
            ContextValue::Strings(list) => Some(list.join(", ")),
            ContextValue::StyledStr(s) => Some(s.to_string()),
            ContextValue::StyledStrs(list) => Some(
                list.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ContextValue::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let arg = get(ContextKind::InvalidArg).unwrap_or_default();
    let value = get(ContextKind::InvalidValue).unwrap_or_default();
    let suggestion = get(ContextKind::SuggestedArg)
        .or_else(|| get(ContextKind::SuggestedSubcommand))
        .map(|s| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default();
    let message = match err.kind() {
        ErrorKind::UnknownArgument => format!("unexpected argument '{arg}' found{suggestion}"),
        ErrorKind::InvalidSubcommand => format!(
            "unrecognized subcommand '{}'{suggestion}",
            get(ContextKind::InvalidSubcommand).unwrap_or_default()
        ),
        ErrorKind::MissingRequiredArgument => {
            format!("the following required arguments were not provided: {arg}")
        }
        ErrorKind::MissingSubcommand => "a command is required".to_string(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let why = std::error::Error::source(err)
                .map(|e| format!(": {e}"))
                .or_else(|| {
                    get(ContextKind::ValidValue).map(|v| format!(" [possible values: {v}]"))
                })
                .unwrap_or_default();
            format!("invalid value '{value}' for '{arg}'{why}")
        }
        ErrorKind::ArgumentConflict => format!(
            "the argument '{arg}' cannot be used with '{}'",
            get(ContextKind::PriorArg).unwrap_or_default()
        ),
        ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues => {
            format!("the argument '{arg}' was given the wrong number of values")
        }
        kind => kind.as_str().unwrap_or("invalid arguments").to_string(),
    };
    let usage = get(ContextKind::Usage)
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "Usage: helm nvflare <COMMAND>".into());
    (message, usage)
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
