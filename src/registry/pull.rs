//! Pulling a chart and its provenance back from a registry, as `helm pull` does: the
//! manifest by tag, then the chart layer and the provenance layer, each checked against
//! its digest and held to a size no real chart exceeds.

use serde_json::Value;

use super::{digest, reference, RegistryAccess};
use super::{CHART_MEDIA_TYPE, CONFIG_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, PROVENANCE_MEDIA_TYPE};
use crate::error::{Code, Error, Result};
use crate::provenance::MAX_PROVENANCE_BYTES;

/// Helm's chart layer type before OCI support settled.
const LEGACY_CHART_MEDIA_TYPE: &str = "application/tar+gzip";
/// A manifest is a few hundred bytes; this is generous.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// `oci://host[:port]/repo/chart:tag`, or without the tag and `--version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartRef {
    pub host: String,
    pub repository: String,
    pub tag: String,
}

impl ChartRef {
    pub fn parse(text: &str, version: Option<&str>) -> Result<ChartRef> {
        let bad = |why: &str| {
            Error::invalid_args(
                format!("{:?} is not a chart reference: {why}.", crate::terminal::escape(text)),
                "Use oci://<registry>[:port]/<path>/<chart>:<version>, or the reference without :<version> and --version.",
            )
        };
        let remote = text
            .strip_prefix("oci://")
            .ok_or_else(|| bad("it must start with oci://"))?;
        let (host, path) = remote
            .split_once('/')
            .ok_or_else(|| bad("it names no chart"))?;
        let (path, tag) = match path.rsplit_once(':') {
            Some((p, t)) if !t.contains('/') => (p, Some(t.to_string())),
            _ => (path, None),
        };
        let tag = match (tag, version) {
            (Some(t), Some(v)) if t != reference::tag_for_version(v) => {
                return Err(bad("its tag and --version differ"))
            }
            (Some(t), _) => t,
            (None, Some(v)) => reference::tag_for_version(v),
            (None, None) => return Err(bad("it has no :<version> and no --version was given")),
        };
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !tag_ok {
            return Err(bad("the version is not a valid tag"));
        }
        let parsed = super::Remote::parse(&format!("oci://{host}/{path}"))?;
        if parsed.path.is_empty() {
            return Err(bad("it names no chart"));
        }
        Ok(ChartRef {
            host: parsed.host,
            repository: parsed.path,
            tag,
        })
    }
}

impl std::fmt::Display for ChartRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}/{}:{}", self.host, self.repository, self.tag)
    }
}

/// A chart as the registry holds it: its bytes, not yet unpacked or trusted.
#[derive(Debug, Clone)]
pub struct PulledChart {
    pub archive: Vec<u8>,
    pub provenance: Option<Vec<u8>>,
    /// The manifest's digest.
    pub digest: String,
}

impl ChartRef {
    /// The version the reference asks for (a tag maps `+` to `_`, as Helm pushes it).
    pub fn version(&self) -> String {
        self.tag.replace('_', "+")
    }

    /// The chart's name: the reference's last path component.
    pub fn chart_name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    /// The component before the chart's name: where `push` puts a participant's charts.
    pub(crate) fn participant_path(&self) -> Option<&str> {
        let mut parts = self.repository.rsplit('/');
        parts.next();
        parts.next()
    }

    /// The file `helm pull` saves the chart as, and verifies it under.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tgz", self.chart_name(), self.version())
    }
}

fn not_helms_shape(chart: &ChartRef, why: &str) -> Error {
    Error::new(
        Code::VerificationFailed,
        format!("The registry's answer for {chart} is not a chart as Helm pushes one: {why}."),
        "Helm pushes one image manifest with one chart layer and at most one provenance layer; an answer that could mean something else to another client is refused. Tell the chart's publisher.",
    )
}

/// The manifest, and the chart and provenance layers, exactly as `helm push` writes them:
/// an image manifest (not an index), Helm's config, one chart content layer of the
/// current media type, at most one provenance layer, nothing else. Each blob is checked
/// against its digest; nothing is unpacked here.
pub(crate) fn pull_chart(chart: &ChartRef, access: &RegistryAccess) -> Result<PulledChart> {
    let client = access.client(&chart.host)?;
    let repo = &chart.repository;
    let scope = format!("repository:{repo}:pull");
    let mut response = client.send(
        "GET",
        &client.url(&format!("/v2/{repo}/manifests/{}", chart.tag)),
        Some(MANIFEST_MEDIA_TYPE),
        None,
        &scope,
    )?;
    if response.status() == 404 {
        return Err(Error::new(
            Code::InvalidArgs,
            format!("Registry {} has no {chart}.", chart.host),
            "Check the path and version; `helm nvflare push` prints the reference of each chart it pushes.",
        ));
    }
    if response.status() != 200 {
        return Err(super::status_error(&client, "fetch the manifest", response));
    }
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let manifest_bytes = client.body_bytes(&mut response, MAX_MANIFEST_BYTES)?;
    let manifest: Value = serde_json::from_slice(&manifest_bytes)
        .map_err(|_| client.protocol_error("a manifest that is not JSON"))?;
    let shape = |why: &str| not_helms_shape(chart, why);
    let media_type = manifest["mediaType"].as_str().unwrap_or_default();
    if media_type != MANIFEST_MEDIA_TYPE
        || content_type.split(';').next().unwrap_or("").trim() != MANIFEST_MEDIA_TYPE
        || manifest.get("manifests").is_some()
        || manifest["schemaVersion"] != 2
    {
        return Err(shape(&format!(
            "it is not an OCI image manifest (media type {:?}, served as {:?})",
            crate::terminal::escape(media_type),
            crate::terminal::escape(&content_type)
        )));
    }
    let config_type = manifest["config"]["mediaType"].as_str().unwrap_or_default();
    if config_type != CONFIG_MEDIA_TYPE {
        return Err(shape(&format!(
            "its config media type is {:?}, not Helm's",
            crate::terminal::escape(config_type)
        )));
    }
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    let of_type = |t: &str| {
        layers
            .iter()
            .filter(|l| l["mediaType"].as_str() == Some(t))
            .collect::<Vec<_>>()
    };
    let charts = of_type(CHART_MEDIA_TYPE);
    let provs = of_type(PROVENANCE_MEDIA_TYPE);
    if !of_type(LEGACY_CHART_MEDIA_TYPE).is_empty() {
        return Err(shape("it has a chart layer of the legacy media type"));
    }
    if charts.len() != 1 {
        return Err(shape(&format!("it has {} chart layers", charts.len())));
    }
    if provs.len() > 1 {
        return Err(shape(&format!("it has {} provenance layers", provs.len())));
    }
    if layers.len() != 1 + provs.len() {
        return Err(shape("it has layers of other types"));
    }
    let fetch = |layer: &Value, limit: u64| -> Result<Vec<u8>> {
        let wanted = layer["digest"].as_str().unwrap_or_default();
        let size = layer["size"].as_u64().unwrap_or(u64::MAX);
        if !super::digest_is_sha256(wanted) || size > limit {
            return Err(client.protocol_error("a layer with a bad digest or an oversized layer"));
        }
        let mut response = client.send(
            "GET",
            &client.url(&format!("/v2/{repo}/blobs/{wanted}")),
            None,
            None,
            &scope,
        )?;
        if response.status() != 200 {
            return Err(super::status_error(&client, "fetch a layer", response));
        }
        let bytes = client.body_bytes(&mut response, limit)?;
        if digest(&bytes) != wanted {
            return Err(client.protocol_error("a layer whose bytes do not match its digest"));
        }
        Ok(bytes)
    };
    let archive = fetch(charts[0], crate::archive::MAX_CHART_BYTES)?;
    let provenance = provs
        .first()
        .map(|l| fetch(l, MAX_PROVENANCE_BYTES))
        .transpose()?;
    Ok(PulledChart {
        archive,
        provenance,
        digest: digest(&manifest_bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::ChartRef;

    #[test]
    fn references() {
        let r =
            ChartRef::parse("oci://127.0.0.1:5000/fl/site-1/nvflare-client:1.0.0", None).unwrap();
        assert_eq!(
            (r.host.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "fl/site-1/nvflare-client", "1.0.0")
        );
        let r =
            ChartRef::parse("oci://reg.example.com/fl/nvflare-server", Some("1.0.0+b1")).unwrap();
        assert_eq!(r.tag, "1.0.0_b1");
        for bad in [
            "https://x/y:1.0.0",
            "oci://reg.example.com/chart",
            "oci://reg.example.com/chart:1.0.0 --x",
            "oci://reg.example.com:1.0.0",
            "oci://reg.example.com/Chart:1.0.0",
        ] {
            assert!(ChartRef::parse(bad, None).is_err(), "{bad}");
        }
        assert!(ChartRef::parse("oci://r/c:1.0.0", Some("2.0.0")).is_err());
    }
}
