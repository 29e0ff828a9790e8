//! The per-participant Helm chart: files under `chart-templates/` are compiled into the
//! binary; `.hbs` files are rendered through Handlebars (strict, no HTML escaping) with the
//! participant's values, everything else is copied byte for byte.

pub mod context;
pub mod values;
pub mod values_files;

use std::path::Path;
use std::sync::LazyLock;

use handlebars::{handlebars_helper, Handlebars};
use serde_json::Value;

pub(crate) use context::chart_context;
pub use context::ChartContext;

use crate::error::{Error, Result};
use crate::kit::Role;

pub const CHART_DIR: &str = "helm_chart";
pub const SERVER_CHART_NAME: &str = "nvflare-server";
pub const CLIENT_CHART_NAME: &str = "nvflare-client";

/// Which charts a template file belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Applies {
    Both,
    Server,
    Client,
}

macro_rules! embed {
    ($applies:expr, $dir:literal, $path:literal) => {
        (
            $applies,
            $path,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/chart-templates/",
                $dir,
                "/",
                $path
            )) as &[u8],
        )
    };
}

/// Every chart file: (charts it belongs to, path inside the chart, contents).
static FILES: &[(Applies, &str, &[u8])] = &[
    embed!(Applies::Both, "common", ".helmignore"),
    embed!(Applies::Both, "common", "templates/_helpers.tpl"),
    embed!(Applies::Both, "common", "templates/serviceaccount.yaml"),
    embed!(Applies::Both, "common", "templates/role.yaml.hbs"),
    embed!(Applies::Both, "common", "templates/networkpolicy.yaml"),
    embed!(Applies::Both, "common", "templates/workspace-pvc.yaml"),
    embed!(Applies::Server, "server", "Chart.yaml.hbs"),
    embed!(Applies::Server, "server", "values.yaml.hbs"),
    embed!(Applies::Server, "server", "values.schema.json"),
    embed!(Applies::Server, "server", "templates/NOTES.txt"),
    embed!(
        Applies::Server,
        "server",
        "templates/server-deployment.yaml"
    ),
    embed!(Applies::Server, "server", "templates/server-service.yaml"),
    embed!(
        Applies::Server,
        "server",
        "templates/server-tcp-services.yaml"
    ),
    embed!(Applies::Server, "server", "templates/server-tlsroute.yaml"),
    embed!(Applies::Server, "server", "templates/server-route.yaml"),
    embed!(Applies::Client, "client", "Chart.yaml.hbs"),
    embed!(Applies::Client, "client", "values.yaml.hbs"),
    embed!(Applies::Client, "client", "values.schema.json"),
    embed!(Applies::Client, "client", "templates/NOTES.txt"),
    embed!(
        Applies::Client,
        "client",
        "templates/client-deployment.yaml"
    ),
    embed!(Applies::Client, "client", "templates/service.yaml"),
];

handlebars_helper!(quoted: |value: Value| crate::yaml_writer::string(&value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string())));
// Helm 3 cannot load a Chart.yaml holding DEL or C1 characters even when escaped, so the
// metadata shows such characters as visible escapes (the exact name is in values.yaml).
handlebars_helper!(chart_text: |value: Value| crate::yaml_writer::string(&crate::terminal::escape(value.as_str().unwrap_or_default())));
handlebars_helper!(yaml_after_key: |value: Value, indent: u64| crate::yaml_writer::after_key(&value, indent as usize));

/// All helpers are registered here, once; templates are registered from `FILES`.
static REGISTRY: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper("quote", Box::new(quoted));
    hb.register_helper("yaml", Box::new(yaml_after_key));
    hb.register_helper("chart_text", Box::new(chart_text));
    for (applies, path, bytes) in FILES {
        if let Some(stripped) = path.strip_suffix(".hbs") {
            let text = std::str::from_utf8(bytes).expect("chart templates are UTF-8");
            hb.register_template_string(&template_key(*applies, stripped), text)
                .unwrap_or_else(|err| panic!("chart template {path} does not compile: {err}"));
        }
    }
    hb
});

fn template_key(applies: Applies, path: &str) -> String {
    let prefix = match applies {
        Applies::Both => "common",
        Applies::Server => "server",
        Applies::Client => "client",
    };
    format!("{prefix}/{path}")
}

fn applies_to(applies: Applies, role: Role) -> bool {
    match applies {
        Applies::Both => true,
        Applies::Server => role == Role::Server,
        Applies::Client => role != Role::Server,
    }
}

/// The chart's `values.schema.json` for `role`, parsed: the same bytes every prepared chart
/// of that role carries, read from the binary rather than from a kit.
pub(crate) fn values_schema(role: Role) -> Value {
    let bytes = FILES
        .iter()
        .find(|(applies, path, _)| {
            *path == "values.schema.json" && *applies != Applies::Both && applies_to(*applies, role)
        })
        .map(|(_, _, bytes)| *bytes)
        .expect("both charts embed values.schema.json");
    serde_json::from_slice(bytes).expect("the embedded values.schema.json is JSON")
}

/// The files of one participant's chart, as (path inside the chart, contents).
pub fn render(role: Role, context: &ChartContext) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let context = serde_json::to_value(context).expect("chart values serialize");
    let mut out = Vec::new();
    for (applies, path, bytes) in FILES.iter().filter(|(a, _, _)| applies_to(*a, role)) {
        match path.strip_suffix(".hbs") {
            Some(stripped) => {
                let text = REGISTRY
                    .render(&template_key(*applies, stripped), &context)
                    .map_err(|err| {
                        Error::new(
                        crate::error::Code::DeployPrepareFailed,
                        format!("Failed to prepare deployment: rendering {path}: {err}"),
                        "This is a bug in helm-nvflare; please report it with the runtime config.",
                    )
                    })?;
                out.push((stripped, text.into_bytes()));
            }
            None => out.push((*path, bytes.to_vec())),
        }
    }
    Ok(out)
}

/// Writes the chart into `<kit_dir>/helm_chart/`, replacing whatever was there.
pub fn write(kit_dir: &Path, role: Role, context: &ChartContext) -> Result<()> {
    let chart_dir = kit_dir.join(CHART_DIR);
    if chart_dir.symlink_metadata().is_ok() {
        std::fs::remove_dir_all(&chart_dir)
            .map_err(|e| Error::prepare_io("remove", &chart_dir, e))?;
    }
    for (path, bytes) in render(role, context)? {
        let target = chart_dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::prepare_io("create", parent, e))?;
        }
        std::fs::write(&target, bytes).map_err(|e| Error::prepare_io("write", &target, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// values.yaml, as rendered, reads back as exactly the values it was rendered from.
    #[test]
    fn values_read_back_as_rendered() {
        for role in [Role::Server, Role::Client] {
            let context = context::sample(role);
            let files = render(role, &context).unwrap();
            let (_, yaml) = files.iter().find(|(p, _)| *p == "values.yaml").unwrap();
            let read: values::ChartValues =
                serde_saphyr::from_str(std::str::from_utf8(yaml).unwrap()).unwrap();
            assert_eq!(read, context.values, "{role:?}");
        }
    }

    #[test]
    fn every_embedded_template_compiles_and_renders() {
        LazyLock::force(&REGISTRY);
        for role in [Role::Server, Role::Client] {
            let context = context::sample(role);
            let files = render(role, &context).unwrap();
            assert!(files.iter().any(|(p, _)| *p == "values.yaml"));
            assert!(files.iter().any(|(p, _)| *p == "Chart.yaml"));
            for (path, bytes) in &files {
                let text = String::from_utf8(bytes.clone()).unwrap();
                assert!(
                    !text.contains("[object]"),
                    "{path} rendered an object as text"
                );
                if path.ends_with(".json") {
                    serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
                }
                if *path == "values.yaml" || *path == "Chart.yaml" {
                    serde_saphyr::from_str::<Value>(&text)
                        .unwrap_or_else(|e| panic!("{path}: {e}\n{text}"));
                }
            }
        }
    }
}
