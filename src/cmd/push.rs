//! `helm nvflare push`.

use std::io::Read;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::cli::PushArgs;
use crate::error::Error;
use crate::output::{self, Format};
use crate::registry::credentials::Credentials;
use crate::registry::{self, PushSettings, TlsSettings};

pub fn run(args: PushArgs) -> i32 {
    match settings(&args).and_then(|s| registry::push(&s)) {
        Ok(pushed) => {
            let charts: Vec<Value> = pushed
                .iter()
                .map(|p| {
                    json!({
                        "archive": p.archive.display().to_string(),
                        "chart": p.chart,
                        "version": p.version,
                        "reference": p.reference,
                        "digest": p.digest,
                        "helm_command": p.helm_command,
                    })
                })
                .collect();
            match args.format {
                Format::Json => {
                    let mut data = Map::new();
                    data.insert("charts".into(), Value::Array(charts));
                    output::print_ok(Format::Json, &data);
                }
                Format::Txt => {
                    let blocks: Vec<String> = charts
                        .iter()
                        .filter_map(Value::as_object)
                        .map(output::text_lines)
                        .collect();
                    println!("{}", blocks.join("\n\n"));
                }
            }
            0
        }
        Err(err) => {
            output::print_error(args.format, &err);
            err.code.exit_code()
        }
    }
}

/// Archives as given; a folder stands for the .tgz files in it and in its subfolders (a
/// packaged federation: `<dir>/<participant>/<chart>-<version>.tgz`).
fn expand_archives(args: &[String]) -> Result<Vec<PathBuf>, Error> {
    let mut archives = Vec::new();
    for arg in args {
        let path = PathBuf::from(arg);
        if !path.is_dir() {
            archives.push(path);
            continue;
        }
        let mut found = Vec::new();
        let entries = |dir: &std::path::Path| -> Vec<PathBuf> {
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect()
        };
        for entry in entries(&path) {
            if entry.is_dir() {
                found.extend(
                    entries(&entry)
                        .into_iter()
                        .filter(|p| p.extension().is_some_and(|e| e == "tgz")),
                );
            } else if entry.extension().is_some_and(|e| e == "tgz") {
                found.push(entry);
            }
        }
        if found.is_empty() {
            return Err(Error::new(
                crate::error::Code::InvalidArchive,
                format!(
                    "No chart archive (.tgz) in {} or its subfolders.",
                    path.display()
                ),
                "Package first: `helm nvflare package <prepared-dir> -d <dir>`.",
            ));
        }
        found.sort();
        archives.extend(found);
    }
    Ok(archives)
}

fn settings(args: &PushArgs) -> Result<PushSettings, Error> {
    let (remote, archives) = args
        .targets
        .split_last()
        .expect("clap requires two or more targets");
    let credentials = match &args.username {
        Some(username) => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password).map_err(|e| {
                Error::invalid_args(format!("Cannot read the password from stdin: {e}"), "Pipe the password: `echo \"$PASS\" | helm nvflare push ... --password-stdin`.")
            })?;
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            if password.is_empty() {
                return Err(Error::invalid_args(
                    "--password-stdin read an empty password.",
                    "Pipe the password into the command.",
                ));
            }
            Some(Credentials::basic(username.clone(), password))
        }
        None => None,
    };
    Ok(PushSettings {
        archives: expand_archives(archives)?,
        remote: remote.clone(),
        tls: TlsSettings {
            plain_http: args.plain_http,
            ca_file: args.ca_file.clone(),
            cert_file: args.cert_file.clone(),
            key_file: args.key_file.clone(),
            insecure_skip_tls_verify: args.insecure_skip_tls_verify,
        },
        credentials,
        timeout: std::time::Duration::from_secs(args.timeout),
        default_namespace: std::env::var("HELM_NAMESPACE")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into()),
    })
}
