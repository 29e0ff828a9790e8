//! `helm nvflare push`.

use std::io::Read;
use std::path::PathBuf;

use helm_nvflare::error::{Error, Result};
use helm_nvflare::helm_env::HelmEnv;
use helm_nvflare::output::Output;
use helm_nvflare::registry::credentials::Credentials;
use helm_nvflare::registry::{self, PushSettings, TlsSettings};

use super::shared::parse_duration;

#[derive(clap::Args, Debug)]
#[command(
    about = "Push chart archives to an OCI registry, each participant under its own path.",
    after_help = "Examples:
  helm nvflare push dist/nvflare-client-1.0.0.tgz oci://registry.example.com/fl
  helm nvflare push dist oci://127.0.0.1:5000/fl --plain-http      # every archive package wrote into dist/
  echo \"$PASS\" | helm nvflare push dist oci://registry.example.com/fl --username robot --password-stdin"
)]
pub struct Args {
    /// Chart archives (.tgz), or folders holding them (`package <federation>` output).
    #[arg(value_name = "ARCHIVE_OR_FOLDER", required = true, num_args = 1..)]
    pub archives: Vec<PathBuf>,
    /// The registry location: `oci://<registry>[:port]/<path>`.
    #[arg(value_name = "oci://REGISTRY/PATH", required = true)]
    pub remote: String,
    /// Talk plain HTTP to the registry.
    #[arg(long)]
    pub plain_http: bool,
    /// CA certificate (PEM) to trust for the registry.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
    /// Skip TLS certificate checks (testing only).
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Registry user name; the password is read from stdin (--password-stdin).
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from stdin.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Time limit for the whole push, e.g. 90s, 5m (each connect 10s, each read 30s).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub timeout: u64,
}

pub fn exec(args: Args, out: &Output, env: &HelmEnv) -> Result<i32> {
    let settings = PushSettings {
        archives: registry::expand_archives(&args.archives)?,
        remote: args.remote,
        tls: TlsSettings {
            plain_http: args.plain_http,
            ca_file: args.ca_file,
            cert_file: args.cert_file,
            key_file: args.key_file,
            insecure_skip_tls_verify: args.insecure_skip_tls_verify,
        },
        credentials: password_from_stdin(args.username)?,
        credential_files: [env.registry_config.clone(), env.docker_config.clone()]
            .into_iter()
            .flatten()
            .collect(),
        timeout: std::time::Duration::from_secs(args.timeout),
        default_namespace: env.namespace.clone().unwrap_or_else(|| "default".into()),
    };
    out.result(&registry::push(&settings, out)?);
    Ok(0)
}

/// `--username` with the password piped in (`--password-stdin`).
fn password_from_stdin(username: Option<String>) -> Result<Option<Credentials>> {
    let Some(username) = username else {
        return Ok(None);
    };
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password).map_err(|e| {
        Error::invalid_args(
            format!("Cannot read the password from stdin: {e}"),
            "Pipe the password: `echo \"$PASS\" | helm nvflare push ... --password-stdin`.",
        )
    })?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(Error::invalid_args(
            "--password-stdin read an empty password.",
            "Pipe the password into the command.",
        ));
    }
    Ok(Some(Credentials::basic(username, password)))
}
