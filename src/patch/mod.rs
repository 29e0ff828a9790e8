//! The rewrites `prepare` makes to a copy of the kit's `local/` and `startup/` folders.

pub mod comm_config;
pub mod local_files;
pub mod resources;

/// Warnings collected while patching; shown to the user, never fatal.
pub type Warnings = Vec<String>;

/// A warning of NVFlare's (kept word for word in `--format json`, for parity with
/// `nvflare deploy prepare`) said in plain words: what changed, and whether to act.
pub(crate) fn plain_words(warning: &str) -> String {
    let quoted = |text: &str| text.split('\'').nth(1).unwrap_or("").to_string();
    if warning.starts_with("deploy prepare replaces component 'resource_manager'") {
        return "local/resources.json.default: the kit's resource manager is replaced by \
                PassthroughResourceManager, as `nvflare deploy prepare` does: on Kubernetes and \
                Docker each job gets its own pod or container, so no GPU bookkeeping is needed \
                in the parent. Nothing to do."
            .into();
    }
    if warning.starts_with("deploy prepare removes component") {
        return format!(
            "local/resources.json.default: the kit's resource consumer '{}' is removed, as \
             `nvflare deploy prepare` does (jobs run in their own pods or containers). Nothing to do.",
            quoted(warning)
        );
    }
    if warning.starts_with("deploy prepare replaces component") {
        return format!(
            "local/resources.json.default: the kit's job launcher '{}' is replaced by the \
             runtime's, as `nvflare deploy prepare` does; arguments set on it in the kit are \
             dropped. Set launcher options in the runtime config's job_launcher section instead.",
            quoted(warning)
        );
    }
    warning.to_string()
}
