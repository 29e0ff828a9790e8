//! Shell completion through Helm. Helm completes a plugin's sub-commands from the static
//! `completion.yaml` in the plugin folder, and everything after a sub-command by running
//! the plugin's `plugin.complete` with the words typed so far; that script runs
//! `helm-nvflare __complete <words...>`, answered here from the clap definition: one
//! candidate per line, then `:<directive>` (cobra's ShellCompDirective).

use clap::CommandFactory;

/// cobra's directives: no space after the word, no file completion, complete folders only.
const NO_FILE_COMP: u32 = 4;
const FILTER_DIRS: u32 = 16;

/// `words`: the sub-command, the arguments typed after it, and the word being completed.
pub fn complete(words: &[String]) -> String {
    let cli = super::Cli::command();
    let (Some(sub), Some(current)) = (words.first(), words.last()) else {
        return format!(":{NO_FILE_COMP}");
    };
    let Some(command) = cli.get_subcommands().find(|c| c.get_name() == sub) else {
        let names: Vec<String> = cli
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .filter(|n| n.starts_with(sub.as_str()))
            .collect();
        return lines(names.into_iter(), NO_FILE_COMP);
    };
    let previous = words.len().checked_sub(2).map(|i| &words[i]);
    let args: Vec<&clap::Arg> = command.get_arguments().chain(cli.get_arguments()).collect();
    // The value of the flag just typed: its listed values, or files.
    if let Some(flag) = previous
        .and_then(|p| p.strip_prefix("--"))
        .and_then(|name| args.iter().find(|a| a.get_long() == Some(name)))
        .filter(|a| a.get_action().takes_values())
    {
        let values: Vec<String> = flag
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_string())
            .filter(|v| v.starts_with(current.as_str()))
            .collect();
        return match values.is_empty() {
            true => format!(":{}", directive_for(flag)),
            false => lines(values.into_iter(), NO_FILE_COMP),
        };
    }
    if current.starts_with('-') {
        let flags = args
            .iter()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long())
            .map(|l| format!("--{l}"))
            .filter(|f| f.starts_with(current.as_str()));
        return lines(flags, NO_FILE_COMP);
    }
    // A positional argument: `completion` takes a shell; the others a folder or a file.
    if let Some(shells) = command
        .get_positionals()
        .find(|a| !a.get_possible_values().is_empty())
    {
        let values = shells
            .get_possible_values()
            .into_iter()
            .map(|v| v.get_name().to_string())
            .filter(|v| v.starts_with(current.as_str()));
        return lines(values, NO_FILE_COMP);
    }
    let directive = command
        .get_positionals()
        .next()
        .map_or(NO_FILE_COMP, directive_for);
    format!(":{directive}")
}

/// Folders for kits and output folders, files (the shell's default) for the rest.
fn directive_for(arg: &clap::Arg) -> u32 {
    let name = arg
        .get_value_names()
        .and_then(|n| n.first())
        .map(|n| n.as_str().to_string())
        .unwrap_or_default();
    if ["KIT", "PREPARED_KIT", "DIR", "PREPARED_KIT|CHART_DIR"].contains(&name.as_str()) {
        FILTER_DIRS
    } else {
        0
    }
}

fn lines(candidates: impl Iterator<Item = String>, directive: u32) -> String {
    let mut out: Vec<String> = candidates.collect();
    out.push(format!(":{directive}"));
    out.join("\n")
}

/// The static `completion.yaml` Helm reads: every sub-command and its flags.
pub fn completion_yaml() -> String {
    let cli = super::Cli::command();
    let mut out = String::from(
        "# Written by `helm-nvflare __completion-yaml`; a test keeps it in step with the binary.\nname: nvflare\ncommands:\n",
    );
    for command in cli.get_subcommands() {
        out.push_str(&format!("  - name: {}\n    flags:\n", command.get_name()));
        for arg in command.get_arguments().chain(cli.get_arguments()) {
            if let Some(long) = arg.get_long() {
                out.push_str(&format!("      - {long}\n"));
            }
            if let Some(short) = arg.get_short() {
                out.push_str(&format!("      - {short}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn completes_commands_flags_and_values() {
        assert_eq!(complete(&words("pre")), "prepare\n:4");
        assert!(complete(&words("prepare --fo")).starts_with("--format\n"));
        assert_eq!(complete(&words("prepare --format j")), "json\n:4");
        assert_eq!(
            complete(&words("stage kit --method ")),
            "pvc\nconfigmap\n:4"
        );
        assert_eq!(complete(&words("prepare ")), ":16");
        assert_eq!(complete(&words("completion b")), "bash\n:4");
    }

    #[test]
    fn completion_yaml_is_in_step_with_the_binary() {
        let committed = include_str!("../../completion.yaml");
        assert_eq!(
            committed,
            completion_yaml(),
            "run `helm-nvflare __completion-yaml > completion.yaml`"
        );
    }
}
