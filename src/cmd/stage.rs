//! `helm nvflare stage` and `helm nvflare unstage`.

use serde_json::{Map, Value};

use crate::cli::{StageArgs, UnstageArgs};
use crate::output::{self, Format};
use crate::stage::{self, StageSettings, UnstageSettings};
use crate::terminal::{escape, escape_lines};

pub fn run_stage(args: StageArgs) -> i32 {
    crate::interrupt::catch_interrupts();
    let settings = StageSettings {
        kit: args.kit.clone(),
        method: args.method,
        cluster: args.cluster.settings(),
        pvc: args.pvc.clone(),
        create_pvc: args.create_pvc,
        size: args.size.clone(),
        storage_class: args.storage_class.clone(),
        image: args.image.clone(),
        timeout_seconds: args.timeout,
        run_as_user: args.run_as_user,
    };
    report(
        args.format,
        stage::stage(
            &settings,
            args.format == Format::Json && !args.cluster.dry_run,
        ),
    )
}

pub fn run_unstage(args: UnstageArgs) -> i32 {
    crate::interrupt::catch_interrupts();
    let settings = UnstageSettings {
        kit: args.kit.clone(),
        cluster: args.cluster.settings(),
        image: args.image.clone(),
        timeout_seconds: args.timeout,
    };
    report(
        args.format,
        stage::unstage(
            &settings,
            args.format == Format::Json && !args.cluster.dry_run,
        ),
    )
}

/// Text: the plan of a dry run (commands, then manifests), or `key: value` lines.
fn report(format: Format, result: crate::error::Result<Map<String, Value>>) -> i32 {
    match result {
        Ok(data) => {
            if format == Format::Txt {
                if let Some(plan) = data.get("plan").and_then(Value::as_array) {
                    for step in plan {
                        let note = step
                            .get("note")
                            .and_then(Value::as_str)
                            .map(|n| format!("    # {n}"))
                            .unwrap_or_default();
                        println!(
                            "{}{note}",
                            escape(step["command"].as_str().unwrap_or_default())
                        );
                        if let Some(stdin) = step.get("stdin") {
                            println!(
                                "{}",
                                escape_lines(
                                    &serde_json::to_string_pretty(stdin).unwrap_or_default()
                                )
                            );
                        }
                    }
                    return 0;
                }
            }
            output::print_ok(format, &data);
            0
        }
        Err(err) => {
            output::print_error(format, &err);
            err.code.exit_code()
        }
    }
}
