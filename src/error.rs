//! The one error type: a stable code, a message and a hint, as `nvflare` reports them.

use std::fmt;
use std::path::Path;

/// Exit code for errors the user can fix (bad input), as `nvflare` uses.
pub const EXIT_USER_ERROR: i32 = 4;
/// Exit code for failures outside the user's input (an unreachable or failing service).
pub const EXIT_FAILURE: i32 = 1;

/// Error codes shared with `nvflare deploy prepare`, plus the ones our other commands add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidArgs,
    InvalidKit,
    InvalidConfig,
    ConfigNotFound,
    UnsupportedKit,
    DeployPrepareFailed,
    InvalidChart,
    KeyMaterialInChart,
    InvalidArchive,
    RegistryUnreachable,
    RegistryTls,
    RegistryAuthFailed,
    RegistryError,
    InvalidFederation,
    KubectlNotFound,
    HelmNotFound,
    KubectlFailed,
    Interrupted,
    NotPrepared,
    NamespaceMismatch,
    PvcNotFound,
    StageTimeout,
    StageTooLarge,
    StageIncomplete,
    OutputStaged,
    InvalidStageRecord,
    RegistryTimeout,
    OutputTooLarge,
    InvalidKeyring,
    VerificationFailed,
    // A failed kubectl or helm call, by kind (cluster_failure.rs).
    ClusterUnreachable,
    ClusterUnauthorized,
    ClusterForbidden,
    ClusterNotFound,
    ClusterConflict,
    ClusterInvalid,
    AdmissionDenied,
    ClusterTimeout,
    ReleaseBusy,
    ReleaseHookFailed,
    ReleaseNotDeployed,
    InvalidBackup,
    BackupMismatch,
    BackupFailed,
    JobsRunning,
    WorkspaceInUse,
    UpgradeRolledBack,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgs => "INVALID_ARGS",
            Code::InvalidKit => "INVALID_KIT",
            Code::InvalidConfig => "INVALID_CONFIG",
            Code::ConfigNotFound => "CONFIG_NOT_FOUND",
            Code::UnsupportedKit => "UNSUPPORTED_KIT",
            Code::DeployPrepareFailed => "DEPLOY_PREPARE_FAILED",
            Code::InvalidChart => "INVALID_CHART",
            Code::KeyMaterialInChart => "KEY_MATERIAL_IN_CHART",
            Code::InvalidArchive => "INVALID_ARCHIVE",
            Code::RegistryUnreachable => "REGISTRY_UNREACHABLE",
            Code::RegistryTls => "REGISTRY_TLS",
            Code::RegistryAuthFailed => "REGISTRY_AUTH_FAILED",
            Code::RegistryError => "REGISTRY_ERROR",
            Code::InvalidFederation => "INVALID_FEDERATION",
            Code::KubectlNotFound => "KUBECTL_NOT_FOUND",
            Code::HelmNotFound => "HELM_NOT_FOUND",
            Code::KubectlFailed => "KUBECTL_FAILED",
            Code::Interrupted => "INTERRUPTED",
            Code::NotPrepared => "NOT_PREPARED",
            Code::NamespaceMismatch => "NAMESPACE_MISMATCH",
            Code::PvcNotFound => "PVC_NOT_FOUND",
            Code::StageTimeout => "STAGE_TIMEOUT",
            Code::StageTooLarge => "STAGE_TOO_LARGE",
            Code::StageIncomplete => "STAGE_INCOMPLETE",
            Code::OutputStaged => "OUTPUT_STAGED",
            Code::InvalidStageRecord => "INVALID_STAGE_RECORD",
            Code::RegistryTimeout => "REGISTRY_TIMEOUT",
            Code::OutputTooLarge => "OUTPUT_TOO_LARGE",
            Code::InvalidKeyring => "INVALID_KEYRING",
            Code::VerificationFailed => "VERIFICATION_FAILED",
            Code::ClusterUnreachable => "CLUSTER_UNREACHABLE",
            Code::ClusterUnauthorized => "CLUSTER_UNAUTHORIZED",
            Code::ClusterForbidden => "CLUSTER_FORBIDDEN",
            Code::ClusterNotFound => "CLUSTER_NOT_FOUND",
            Code::ClusterConflict => "CLUSTER_CONFLICT",
            Code::ClusterInvalid => "CLUSTER_INVALID",
            Code::AdmissionDenied => "ADMISSION_DENIED",
            Code::ClusterTimeout => "CLUSTER_TIMEOUT",
            Code::ReleaseBusy => "RELEASE_BUSY",
            Code::ReleaseHookFailed => "RELEASE_HOOK_FAILED",
            Code::ReleaseNotDeployed => "RELEASE_NOT_DEPLOYED",
            Code::InvalidBackup => "INVALID_BACKUP",
            Code::BackupMismatch => "BACKUP_MISMATCH",
            Code::BackupFailed => "BACKUP_FAILED",
            Code::JobsRunning => "JOBS_RUNNING",
            Code::WorkspaceInUse => "WORKSPACE_IN_USE",
            Code::UpgradeRolledBack => "UPGRADE_ROLLED_BACK",
        }
    }

    pub fn exit_code(self) -> i32 {
        match self {
            // Not the input's fault: the registry is down or misbehaving; trying again may work.
            Code::RegistryUnreachable
            | Code::RegistryError
            | Code::KubectlFailed
            | Code::RegistryTimeout
            | Code::OutputTooLarge
            | Code::StageTimeout
            | Code::StageIncomplete
            | Code::ClusterUnreachable
            | Code::ClusterUnauthorized
            | Code::ClusterForbidden
            | Code::ClusterNotFound
            | Code::ClusterConflict
            | Code::ClusterInvalid
            | Code::AdmissionDenied
            | Code::ClusterTimeout
            | Code::ReleaseBusy
            | Code::ReleaseHookFailed
            | Code::ReleaseNotDeployed
            // The cluster's state, not the input: a backup that failed, jobs or a parent
            // still running, a new revision that did not become ready.
            | Code::BackupFailed
            | Code::JobsRunning
            | Code::WorkspaceInUse
            | Code::UpgradeRolledBack => EXIT_FAILURE,
            // As `helm verify`: a bad signature or a changed archive is a failure, not a usage error.
            Code::VerificationFailed => EXIT_FAILURE,
            // As a shell reports a command stopped by SIGINT.
            Code::Interrupted => 130,
            // nvflare exits 4 for every deploy error, DEPLOY_PREPARE_FAILED included.
            _ => EXIT_USER_ERROR,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
    pub hint: String,
    /// One entry per underlying problem, when an error gathers several (a federation).
    pub details: Vec<Detail>,
    /// The failed child call (kubectl, helm) behind this error: shown with --debug and in
    /// JSON, never in the one-line text.
    pub call: Option<FailedCall>,
}

/// An error as one row of a report shows it (a federation's participant that failed while
/// the others went on): its code, message and hint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Brief {
    pub error_code: &'static str,
    pub message: String,
    pub hint: String,
}

impl From<Error> for Brief {
    fn from(e: Error) -> Brief {
        Brief {
            error_code: e.code.as_str(),
            message: e.message,
            hint: e.hint,
        }
    }
}

/// A child process that failed: its command line (secrets redacted) and its raw stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedCall {
    pub command: String,
    pub stderr: String,
}

/// One problem among several: where it is, and its own code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub place: String,
    pub code: Code,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            hint: hint.into(),
            details: Vec::new(),
            call: None,
        }
    }

    pub fn invalid_args(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgs, message, hint)
    }

    pub(crate) fn invalid_kit(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Code::InvalidKit, message, hint)
    }

    pub(crate) fn invalid_config(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Code::InvalidConfig, message, hint)
    }

    /// An I/O failure while writing the prepared kit; the path says where.
    pub(crate) fn prepare_io(action: &str, path: &Path, err: std::io::Error) -> Self {
        Self::new(
            Code::DeployPrepareFailed,
            format!(
                "Failed to prepare deployment: cannot {action} {}: {err}",
                path.display()
            ),
            "Check the kit and runtime config, and that the output location is writable.",
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}
