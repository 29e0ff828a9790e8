//! `helm nvflare verify`: exit 0 when nothing fails, 1 when a check fails, 4 for bad input.

use crate::cli::VerifyArgs;
use crate::output::{self, Format};
use crate::terminal::escape;
use crate::verify::{self, Status, VerifySettings};

pub fn run(args: VerifyArgs) -> i32 {
    let settings = VerifySettings {
        kit: args.kit.clone(),
        cluster: args.cluster.settings(),
        release: args.release.clone(),
        timeout_seconds: args.timeout,
        offline: args.offline,
    };
    let report = match verify::verify(&settings) {
        Ok(report) => report,
        Err(err) => {
            output::print_error(args.format, &err);
            return err.code.exit_code();
        }
    };
    match args.format {
        Format::Json => output::print_ok(Format::Json, &report.to_json()),
        Format::Txt => {
            println!(
                "release {} in namespace {}",
                escape(&report.release),
                escape(&report.namespace)
            );
            for check in &report.checks {
                println!(
                    "{:<4}  {:<18}  {}",
                    check.status.as_str().to_ascii_uppercase(),
                    check.id,
                    escape(&check.message)
                );
                if !check.hint.is_empty() && check.status != Status::Pass {
                    println!("      {:<18}  hint: {}", "", escape(&check.hint));
                }
            }
            let verdict = report.verdict();
            let failed = report
                .checks
                .iter()
                .filter(|c| c.status == Status::Fail)
                .count();
            let warned = report
                .checks
                .iter()
                .filter(|c| c.status == Status::Warn)
                .count();
            println!(
                "verdict: {} ({failed} failed, {warned} warnings, {} checks)",
                verdict.as_str(),
                report.checks.len()
            );
        }
    }
    if report.verdict() == Status::Fail {
        1
    } else {
        0
    }
}
