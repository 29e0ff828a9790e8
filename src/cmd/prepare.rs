//! `helm nvflare prepare`.

use crate::cli::PrepareArgs;
use crate::error::Error;
use crate::output;
use crate::prepare::{self, PrepareSettings};

pub fn run(args: PrepareArgs) -> i32 {
    let result = settings(&args).and_then(|s| prepare::prepare(&s));
    match result {
        Ok(prepared) => {
            for warning in &prepared.warnings {
                output::warn(warning);
            }
            let mut data = prepared.data;
            if !prepared.warnings.is_empty() && args.format == output::Format::Json {
                data.insert("warnings".into(), serde_json::json!(prepared.warnings));
            }
            output::print_ok(args.format, &data);
            0
        }
        Err(err) => {
            output::print_error(args.format, &err);
            err.code.exit_code()
        }
    }
}

fn settings(args: &PrepareArgs) -> Result<PrepareSettings, Error> {
    let kit = match (&args.kit, &args.kit_flag) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid_args(
                "Specify the startup kit only once.",
                "Use either positional kit or --kit.",
            ))
        }
        (Some(kit), None) | (None, Some(kit)) => kit.clone(),
        (None, None) => {
            return Err(Error::invalid_args(
                "Missing startup kit directory.",
                "Run helm nvflare prepare <startup-kit-dir>.",
            ))
        }
    };
    Ok(PrepareSettings {
        kit,
        config: args.config.clone(),
        output: args.output.clone(),
    })
}
