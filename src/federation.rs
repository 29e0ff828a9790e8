//! A whole provisioned federation (`prod_NN/`) in one command: every server and client kit
//! is checked first, then all are prepared in parallel into `<output>/<participant>/`,
//! which replaces `<output>` in one rename. Admin kits are listed as skipped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::error::{Code, Detail, Error, Result};
use crate::fs_tree;
use crate::kit;
use crate::output::{self, Output, Report};
use crate::package::{self, ChartVersions, PackageSettings};
use crate::prepare::{self, Plan, PrepareSettings, Prepared};
use crate::terminal::escape;

/// True when `dir` is no kit itself but holds participant kits (a `prod_NN/` folder).
pub(crate) fn is_federation(dir: &Path) -> bool {
    !kit::has_role_file(dir) && participant_dirs(dir).iter().any(|d| kit::has_role_file(d))
}

/// Subfolders of `dir`, sorted by name. Symlinks are not followed (a link to a folder
/// elsewhere is no participant of this federation).
fn participant_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// Top-level symlinks of a federation folder, which are refused rather than skipped.
fn linked_dirs(dir: &Path) -> Vec<String> {
    let mut links: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    links.sort();
    links
}

fn folder_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[derive(Debug)]
pub struct FederationPlan {
    pub output: PathBuf,
    /// (participant folder name, its plan), sorted by name.
    pub kits: Vec<(String, Plan)>,
    /// (participant folder name, why it is skipped).
    pub skipped: Vec<(String, String)>,
}

/// Checks every kit of the federation; all problems are reported together.
pub fn plan(settings: &PrepareSettings) -> Result<FederationPlan> {
    let root = fs_tree::resolve(&settings.kit);
    let (config, layout) = prepare::load_config(settings, &root)?;
    let output = prepare::resolve_output(settings, &root, &config);
    prepare::check_output(&root, &output)?;
    let mut kits = Vec::new();
    let mut skipped = Vec::new();
    let mut problems: Vec<Detail> = linked_dirs(&root)
        .into_iter()
        .map(|name| Detail {
            place: name,
            code: Code::InvalidKit,
            message: "a symlink, not a kit folder: copy the kit itself into the federation folder"
                .into(),
        })
        .collect();
    for dir in participant_dirs(&root)
        .into_iter()
        .filter(|d| kit::has_role_file(d) && !output.starts_with(d))
    {
        let name = folder_name(&dir);
        match prepare::check_kit(&dir, config.clone(), layout.clone(), output.join(&name)) {
            Ok(plan) => kits.push((name, plan)),
            Err(err) if err.code == Code::UnsupportedKit => {
                skipped.push((name, "admin kit".to_string()))
            }
            Err(err) => problems.push(Detail {
                place: name,
                code: err.code,
                message: err.message,
            }),
        }
    }
    problems.extend(duplicate_participants(&kits));
    if !problems.is_empty() {
        let total = problems.len() + kits.len();
        return Err(invalid_federation(
            problems,
            total,
            "kits",
            &root,
            "prepared",
            "Fix or remove the kits listed, then run prepare again.",
        ));
    }
    if kits.is_empty() {
        return Err(Error::invalid_kit(
            format!("No server or client kit in {}.", root.display()),
            "Give a kit folder, or a prod_NN folder written by `nvflare provision`.",
        ));
    }
    Ok(FederationPlan {
        output,
        kits,
        skipped,
    })
}

/// Two kits for one participant would get the same release, Service and push reference:
/// each would overwrite the other in the cluster and the registry.
fn duplicate_participants(kits: &[(String, Plan)]) -> Vec<Detail> {
    let mut problems = Vec::new();
    for (i, (folder, plan)) in kits.iter().enumerate() {
        // The release follows from the participant name alone.
        let release_of = |p: &Plan| crate::names::Derived::new(&p.kit.name, p.kit.role, "").release;
        let release = release_of(plan);
        let earlier = kits[..i]
            .iter()
            .find(|(_, other)| other.kit.name == plan.kit.name || release_of(other) == release);
        if let Some((other_folder, _)) = earlier {
            problems.push(Detail {
                place: folder.clone(),
                code: Code::InvalidFederation,
                message: format!(
                    "participant {:?} (release {release}) is also the participant of kit {other_folder}",
                    plan.kit.name
                ),
            });
        }
    }
    problems
}

/// Every problem of a federation in one error: nothing is written when any item fails.
fn invalid_federation(
    problems: Vec<Detail>,
    total: usize,
    items: &str,
    dir: &Path,
    verb: &str,
    hint: &str,
) -> Error {
    let mut err = Error::new(
        Code::InvalidFederation,
        format!(
            "{} of {total} {items} in {} cannot be {verb}; nothing was written.",
            problems.len(),
            dir.display()
        ),
        hint,
    );
    err.details = problems;
    err
}

/// One participant of a prepared federation.
#[derive(Debug, Clone, Serialize)]
pub struct PreparedParticipant {
    pub participant: String,
    #[serde(flatten)]
    pub prepared: Prepared,
}

#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub participant: String,
    pub reason: String,
}

/// What `prepare <prod_NN>` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PreparedFederation {
    pub output: PathBuf,
    pub participants: Vec<PreparedParticipant>,
    pub skipped: Vec<Skipped>,
}

impl PreparedFederation {
    /// The same warning for hundreds of kits, once, with whom it concerns; in plain words
    /// when `plain` (text for a person).
    pub(crate) fn grouped_warnings(&self, plain: bool) -> Vec<String> {
        let mut grouped: Vec<(&String, Vec<&str>)> = Vec::new();
        for p in &self.participants {
            for warning in &p.prepared.warnings {
                match grouped.iter_mut().find(|(w, _)| *w == warning) {
                    Some((_, who)) => who.push(&p.participant),
                    None => grouped.push((warning, vec![&p.participant])),
                }
            }
        }
        grouped
            .into_iter()
            .map(|(warning, who)| {
                let shown = who.iter().take(3).copied().collect::<Vec<_>>().join(", ");
                let more = match who.len() {
                    n if n > 3 => format!(" and {} more", n - 3),
                    _ => String::new(),
                };
                let warning = if plain {
                    crate::patch::plain_words(warning)
                } else {
                    warning.clone()
                };
                format!("{warning} ({shown}{more})")
            })
            .collect()
    }
}

impl Report for PreparedFederation {
    fn text(&self) -> String {
        let packaged = self
            .participants
            .iter()
            .any(|p| p.prepared.package.is_some());
        let k8s = self
            .participants
            .iter()
            .any(|p| p.prepared.helm_chart().is_some());
        let (column, cell): (&str, fn(&Prepared) -> Option<String>) = if packaged {
            ("PACKAGE", |p| {
                p.package.as_ref().map(|a| a.display().to_string())
            })
        } else if k8s {
            ("HELM_CHART", |p| {
                p.helm_chart().map(|c| c.display().to_string())
            })
        } else {
            ("START_SCRIPT", |p| match &p.runtime_details {
                prepare::RuntimeDetails::Docker { start_script, .. } => {
                    Some(start_script.display().to_string())
                }
                prepare::RuntimeDetails::K8s { .. } => None,
            })
        };
        let rows: Vec<[String; 4]> = self
            .participants
            .iter()
            .map(|p| {
                [
                    p.participant.clone(),
                    p.prepared.role.as_str().to_string(),
                    p.prepared.release().unwrap_or("-").to_string(),
                    cell(&p.prepared).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        let mut lines = vec![output::table(
            ["PARTICIPANT", "ROLE", "RELEASE", column],
            &rows,
        )];
        for s in &self.skipped {
            lines.push(format!(
                "skipped: {} ({})",
                escape(&s.participant),
                escape(&s.reason)
            ));
        }
        lines.push(format!(
            "output: {}",
            escape(&self.output.display().to_string())
        ));
        lines.join("\n")
    }
}

/// `prepare` on a `prod_NN/` folder: every kit checked first, then all prepared (and
/// packaged, with `settings.package`) into `<output>/<participant>/`.
pub fn prepare(settings: &PrepareSettings, out: &Output) -> Result<PreparedFederation> {
    if let Some(versions) = &settings.package {
        versions.check()?;
    }
    let plan = plan(settings)?;
    let participants = write(
        &plan,
        settings.package.as_ref(),
        settings.sign.as_ref(),
        out,
    )?;
    Ok(PreparedFederation {
        output: plan.output,
        participants,
        skipped: plan
            .skipped
            .into_iter()
            .map(|(participant, reason)| Skipped {
                participant,
                reason,
            })
            .collect(),
    })
}

/// Prepares every kit into `<output>/<participant>/`, and packages each chart there when
/// `package` holds the version flags.
fn write(
    plan: &FederationPlan,
    package: Option<&ChartVersions>,
    sign: Option<&std::sync::Arc<crate::provenance::SigningKey>>,
    out: &Output,
) -> Result<Vec<PreparedParticipant>> {
    let done = AtomicUsize::new(0);
    crate::fs_tree::build_dir_atomically(&plan.output, |work, temp| {
        std::fs::create_dir(work).map_err(|e| Error::prepare_io("create", work, e))?;
        let results = crate::parallel::map_per_core(
            &plan.kits,
            |(name, kit_plan)| -> Result<PreparedParticipant> {
                crate::interrupt::check()?;
                let kit_work = work.join(name);
                let mut prepared = prepare::build(kit_plan, &kit_work, temp)?;
                if let Some(versions) = package {
                    let settings = PackageSettings {
                        source: kit_work.clone(),
                        destination: Some(kit_plan.output.clone()),
                        versions: versions.clone(),
                        sign: sign.cloned(),
                    };
                    let built = package::build(&settings)?;
                    let file = kit_work.join(
                        built
                            .packaged
                            .archive
                            .file_name()
                            .expect("archive has a file name"),
                    );
                    built.write_to(&file)?;
                    prepared.set_package(&built.packaged);
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                out.progress(n, plan.kits.len(), "kits prepared");
                Ok(PreparedParticipant {
                    participant: name.clone(),
                    prepared,
                })
            },
        );
        let kits = results.into_iter().collect::<Result<Vec<_>>>()?;
        crate::prepared::marker::write_marker(work)
            .map_err(|e| Error::prepare_io("write", work, e))?;
        Ok(kits)
    })
}

/// One participant's archive in a packaged federation.
#[derive(Debug, Clone, Serialize)]
pub struct PackagedParticipant {
    pub participant: String,
    #[serde(flatten)]
    pub packaged: package::Packaged,
}

/// What `package <prepared federation>` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PackagedFederation {
    pub charts: Vec<PackagedParticipant>,
}

impl Report for PackagedFederation {
    fn text(&self) -> String {
        let rows: Vec<[String; 4]> = self
            .charts
            .iter()
            .map(|c| {
                [
                    c.participant.clone(),
                    c.packaged.archive.display().to_string(),
                    c.packaged.version.clone(),
                    c.packaged.sha256.clone(),
                ]
            })
            .collect();
        let mut text = output::table(["PARTICIPANT", "ARCHIVE", "VERSION", "SHA256"], &rows);
        if let Some(signer) = self
            .charts
            .first()
            .and_then(|c| c.packaged.signed_by.as_ref())
        {
            text.push_str(&format!(
                "\nsigned by: {} (a .prov beside each archive)",
                crate::terminal::escape(signer)
            ));
        }
        text
    }
}

/// Packages every chart of a prepared federation into `<destination>/<participant>/`:
/// all archives are built (and checked for key material) before any is written.
pub(crate) fn package_all(
    dir: &Path,
    settings: &PackageSettings,
    out: &Output,
) -> Result<PackagedFederation> {
    let charts = prepared_charts(dir);
    let done = AtomicUsize::new(0);
    let destination = fs_tree::resolve(settings.destination.as_deref().unwrap_or(Path::new(".")));
    let built = crate::parallel::map_per_core(&charts, |(name, kit_dir)| {
        let one = PackageSettings {
            source: kit_dir.clone(),
            destination: Some(destination.join(name)),
            ..settings.clone()
        };
        let built = package::build(&one).map(|built| (name.clone(), built));
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        out.progress(n, charts.len(), "charts packaged");
        built
    });
    let mut ok = Vec::new();
    let mut problems = Vec::new();
    for (result, (name, _)) in built.into_iter().zip(&charts) {
        match result {
            Ok(done) => ok.push(done),
            Err(err) => problems.push(Detail {
                place: name.clone(),
                code: err.code,
                message: err.message,
            }),
        }
    }
    if !problems.is_empty() {
        return Err(invalid_federation(
            problems,
            charts.len(),
            "charts",
            dir,
            "packaged",
            "Fix the charts listed (or prepare them again), then package again.",
        ));
    }
    let charts = ok
        .into_iter()
        .map(|(participant, built)| {
            built.write()?;
            Ok(PackagedParticipant {
                participant,
                packaged: built.packaged,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let list = crate::prepared::marker::PackageList {
        archives: charts
            .iter()
            .filter_map(|c| c.packaged.archive.strip_prefix(&destination).ok())
            .map(|rel| rel.display().to_string())
            .collect(),
    };
    let text = serde_json::to_string_pretty(&list).expect("a list serializes") + "\n";
    package::write_archive(
        &destination.join(crate::prepared::marker::PACKAGES_FILE),
        text.as_bytes(),
    )?;
    Ok(PackagedFederation { charts })
}

/// The charts of a prepared federation: `<dir>/<participant>/helm_chart/`, by name.
pub(crate) fn prepared_charts(dir: &Path) -> Vec<(String, PathBuf)> {
    participant_dirs(dir)
        .into_iter()
        .filter(|d| d.join(crate::chart::CHART_DIR).join("Chart.yaml").is_file())
        .map(|d| (folder_name(&d), d))
        .collect()
}

/// What `prepare` made: one kit, or a whole federation.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PrepareOutcome {
    Kit(Prepared),
    Federation(PreparedFederation),
}

impl PrepareOutcome {
    /// The warnings to show on stderr, each once: one kit's in plain words; a federation's
    /// grouped by the participants they concern, in plain words for a person (`plain`).
    /// (NVFlare's wording stays in the JSON result.)
    pub fn warnings(&self, plain: bool) -> Vec<String> {
        match self {
            PrepareOutcome::Kit(p) => p
                .warnings
                .iter()
                .map(|w| crate::patch::plain_words(w))
                .collect(),
            PrepareOutcome::Federation(f) => f.grouped_warnings(plain),
        }
    }
}

impl Report for PrepareOutcome {
    fn text(&self) -> String {
        match self {
            PrepareOutcome::Kit(p) => p.text(),
            PrepareOutcome::Federation(f) => f.text(),
        }
    }
}

/// `prepare`, the library's one entry for the command: a folder holding participant kits
/// (`prod_NN/`) is a federation, anything else one kit.
pub fn prepare_kit_or_federation(
    settings: &PrepareSettings,
    out: &Output,
) -> Result<PrepareOutcome> {
    if is_federation(&settings.kit) {
        Ok(PrepareOutcome::Federation(prepare(settings, out)?))
    } else {
        Ok(PrepareOutcome::Kit(prepare::prepare(settings)?))
    }
}

/// What `package` wrote: one archive, or one per participant of a prepared federation.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PackageOutcome {
    Chart(package::Packaged),
    Federation(PackagedFederation),
}

impl Report for PackageOutcome {
    fn text(&self) -> String {
        match self {
            PackageOutcome::Chart(p) => p.text(),
            PackageOutcome::Federation(f) => f.text(),
        }
    }
}

/// `package`, the library's one entry for the command: a prepared kit or chart folder is
/// one archive; a folder of prepared kits (a prepared federation) is one per participant.
pub fn package_chart_or_federation(
    settings: &PackageSettings,
    out: &Output,
) -> Result<PackageOutcome> {
    if package::chart_dir_of(&settings.source).is_err()
        && !prepared_charts(&settings.source).is_empty()
    {
        Ok(PackageOutcome::Federation(package_all(
            &settings.source,
            settings,
            out,
        )?))
    } else {
        Ok(PackageOutcome::Chart(package::package(settings)?))
    }
}
