//! Help that teaches: every command has a summary, described flags and examples; the top
//! level lists the workflow in order; a missing argument is named.

use crate::support;

use support::nvflare;

#[test]
fn every_command_has_examples_and_every_flag_a_description() {
    let top = nvflare(["--help"]).success().stdout;
    let order = ["prepare", "package", "push", "stage", "unstage", "verify"];
    let positions: Vec<usize> = order
        .iter()
        .map(|c| top.find(&format!("  {c} ")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "commands not in workflow order:\n{top}"
    );
    assert!(top.contains("Workflow, in order:"), "{top}");
    for command in order.into_iter().chain(["sign", "verify-chart"]) {
        let help = nvflare([command, "--help"]).success().stdout;
        assert!(
            help.contains("Example"),
            "{command} --help has no example:\n{help}"
        );
        // clap prints a flag without a description as a bare line: every `--flag` line
        // carries text after it (or on the next, indented, line).
        let lines: Vec<&str> = help
            .lines()
            .skip_while(|l| *l != "Options:")
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .collect();
        assert!(!lines.is_empty(), "{command}: no Options section");
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("--") && !trimmed.contains("  ") {
                let next = lines.get(i + 1).map_or("", |l| l.trim());
                assert!(
                    !next.is_empty() && !next.starts_with('-'),
                    "{command}: {line} has no description"
                );
            }
        }
    }
    let push = nvflare(["push", "--help"]).success().stdout;
    assert!(
        push.contains("<ARCHIVE_OR_FOLDER>... <oci://REGISTRY/PATH>"),
        "{push}"
    );
    let verify = nvflare(["verify", "--help"]).success().stdout;
    for status in ["PASS", "WARN", "FAIL", "SKIP"] {
        assert!(
            verify.contains(status),
            "verify --help does not explain {status}"
        );
    }
}

#[test]
fn a_missing_argument_is_named() {
    let run = nvflare(["push"]);
    assert_eq!(run.code, 4);
    assert!(
        run.stderr.contains("<ARCHIVE_OR_FOLDER>") && run.stderr.contains("<oci://REGISTRY/PATH>"),
        "{}",
        run.stderr
    );
    let run = nvflare(["stage"]);
    assert!(run.stderr.contains("<PREPARED_KIT>"), "{}", run.stderr);
}
