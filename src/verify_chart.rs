//! `verify-chart`: is this chart archive (a file, or a chart in a registry) the one its
//! publisher signed? The `.prov` (beside the file, or the registry's provenance layer) is
//! checked against a keyring of trusted public keys, as `helm verify` does.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::{self, chart as chart_archive};
use crate::error::{Code, Error, Result};
use crate::provenance::{self, Keyring, Verified};
use crate::registry::pull::{self, ChartRef};
use crate::registry::RegistryAccess;

pub struct VerifyChartSettings {
    /// A `.tgz` path, or `oci://...`.
    pub source: String,
    /// With an `oci://` reference that carries no tag.
    pub version: Option<String>,
    pub keyring: PathBuf,
    pub access: RegistryAccess,
}

/// A chart whose provenance checked out.
#[derive(Debug, Clone, Serialize)]
pub struct ChartVerification {
    pub source: String,
    pub chart: String,
    pub version: String,
    /// The participant release the chart was packaged for (charts of this project).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(flatten)]
    pub verified: Verified,
    /// Where the `.prov` came from.
    pub provenance: String,
}

impl crate::output::Report for ChartVerification {}

fn no_provenance(what: &str) -> Error {
    Error::new(
        Code::VerificationFailed,
        format!("{what} has no provenance: nothing says who published it."),
        "Ask the publisher to sign it (`helm nvflare package --sign`, or `helm package --sign`) and to push or send the .prov with it.",
    )
}

pub fn verify_chart(settings: &VerifyChartSettings) -> Result<ChartVerification> {
    let keyring = Keyring::load(&settings.keyring)?;
    if settings.source.starts_with("oci://") {
        let chart = ChartRef::parse(&settings.source, settings.version.as_deref())?;
        let pulled = pull::pull_chart(&chart, &settings.access)?;
        let prov = pulled
            .provenance
            .ok_or_else(|| no_provenance(&chart.to_string()))?;
        // The name `helm pull` saves it under, from the reference asked for, not from the
        // archive: an older signed chart served for a newer tag does not verify. The
        // archive is authenticated before it is unpacked.
        let file = chart.file_name();
        let verified = provenance::verify(&keyring, &pulled.archive, &prov, &file)?;
        let checked = chart_archive::check(&pulled.archive).map_err(|problem| {
            let why = match problem {
                chart_archive::Problem::Invalid(why) | chart_archive::Problem::KeyMaterial(why) => {
                    why
                }
            };
            Error::new(
                Code::InvalidArchive,
                format!("The chart at {chart} is signed but is not a chart archive: {why}"),
                "Do not install it; tell its publisher.",
            )
        })?;
        let release = release_of(&checked);
        if let (Some(release), Some(path)) = (&release, chart.participant_path()) {
            if release != path {
                return Err(Error::new(
                    Code::VerificationFailed,
                    format!(
                        "{chart} holds the chart signed for participant release {release:?}, not for {path:?}.",
                    ),
                    "Each participant's chart lives under its own path (<remote>/<release>/<chart>); use the reference of the participant you deploy.",
                ));
            }
        }
        return Ok(ChartVerification {
            source: chart.to_string(),
            chart: checked.name,
            version: checked.version,
            release,
            verified,
            provenance: format!("registry layer of {} ({})", chart, pulled.digest),
        });
    }
    let archive = Path::new(&settings.source);
    let bytes = archive::read(archive)?;
    let prov_path = provenance::prov_path(archive);
    let prov = provenance::read_beside(archive)
        .map_err(|why| {
            Error::new(
                Code::VerificationFailed,
                format!("{} is not a provenance file: {why}.", prov_path.display()),
                "A .prov is a small clear-signed text file beside the archive.",
            )
        })?
        .ok_or_else(|| no_provenance(&archive.display().to_string()))?
        .into_bytes();
    let file = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The signature and digest first: a damaged archive is a changed archive.
    let verified = provenance::verify(&keyring, &bytes, &prov, &file)?;
    let checked = archive::check_chart(archive, &bytes)?;
    Ok(ChartVerification {
        source: archive.display().to_string(),
        chart: checked.name.clone(),
        version: checked.version.clone(),
        release: release_of(&checked),
        verified,
        provenance: prov_path.display().to_string(),
    })
}

/// The participant release a chart this project packaged was made for.
fn release_of(checked: &chart_archive::Checked) -> Option<String> {
    checked
        .chart
        .get("annotations")?
        .get("nvflare/release")?
        .as_str()
        .map(crate::terminal::escape)
}
