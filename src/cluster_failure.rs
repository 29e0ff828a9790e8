//! One reading of a failed kubectl or helm call, for every command: what went wrong, in
//! one line, with the error code and the hint of its kind. The reading uses the structure
//! kubectl and the API server give (`Error from server (Reason): ...`, the well-known
//! client-side messages), never the whole stderr, which is mostly client noise (klog lines
//! such as `memcache.go:265] "Unhandled Error"`, repeated five times).

use std::sync::LazyLock;

use regex::Regex;

use crate::error::Code;

/// What kind of failure a call's stderr shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Connection refused, no route, DNS failure, TLS handshake failure.
    Unreachable {
        server: Option<String>,
    },
    /// 401, or credentials that expired.
    Unauthorized,
    /// 403, with what was refused where.
    Forbidden {
        verb: Option<String>,
        resource: Option<String>,
        namespace: Option<String>,
    },
    NotFound,
    Conflict,
    /// 422, with the field causes.
    Invalid,
    /// A webhook or Pod Security refused the object.
    AdmissionDenied,
    /// The request timeout, or the API server's own.
    Timeout,
    /// Helm: another install, upgrade or rollback of the release is under way.
    ReleaseBusy,
    /// Helm: a hook failed.
    HookFailed,
    /// Helm: upgrade of a release that has no deployed revision.
    NoDeployedRelease,
    Other,
}

/// A failure read: its kind and the one line that says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub kind: Kind,
    /// The line that says what went wrong (noise dropped), as kubectl or helm wrote it.
    pub line: String,
}

impl Kind {
    pub fn code(&self) -> Code {
        match self {
            Kind::Unreachable { .. } => Code::ClusterUnreachable,
            Kind::Unauthorized => Code::ClusterUnauthorized,
            Kind::Forbidden { .. } => Code::ClusterForbidden,
            Kind::NotFound => Code::ClusterNotFound,
            Kind::Conflict => Code::ClusterConflict,
            Kind::Invalid => Code::ClusterInvalid,
            Kind::AdmissionDenied => Code::AdmissionDenied,
            Kind::Timeout => Code::ClusterTimeout,
            Kind::ReleaseBusy => Code::ReleaseBusy,
            Kind::HookFailed => Code::ReleaseHookFailed,
            Kind::NoDeployedRelease => Code::ReleaseNotDeployed,
            Kind::Other => Code::KubectlFailed,
        }
    }

    /// What to do about a failure of this kind.
    pub fn hint(&self) -> String {
        match self {
            Kind::Unreachable { .. } => "Check that the cluster is up and that the kubeconfig's context points at it: `kubectl cluster-info` (Helm's --kube-context and --kubeconfig choose them).".into(),
            Kind::Unauthorized => "Your credentials were refused or have expired: log in again (refresh the token or the kubeconfig's credentials) and retry.".into(),
            Kind::Forbidden { verb, resource, namespace } => {
                let what = match (verb, resource) {
                    (Some(v), Some(r)) => format!("`{v}` on `{r}`"),
                    _ => "this".into(),
                };
                let at = namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default();
                format!("Ask the cluster's administrator for {what}{at} (a Role and RoleBinding for your user), or use a context whose user has it; `kubectl auth can-i --list` shows what you may do.")
            }
            Kind::NotFound => "The object or namespace is not there: check the namespace (-n) and the name; it may have been deleted meanwhile.".into(),
            Kind::Conflict => "Another client changed or owns the object: look at its managed fields (`kubectl get <kind> <name> -o yaml --show-managed-fields`), then retry.".into(),
            Kind::Invalid => "The API server refused the object's fields (named above): fix the value that produced them and retry.".into(),
            Kind::AdmissionDenied => "A policy of the cluster refused the object (named above): change the setting it names, or ask for the namespace's policy (`kubectl get namespace <ns> --show-labels` shows its Pod Security level).".into(),
            Kind::Timeout => "The cluster did not answer in time: check that it is reachable and not overloaded, or raise --request-timeout.".into(),
            Kind::ReleaseBusy => "Another Helm operation on this release is under way: wait for it (`helm status <release>`), or roll back a stuck one (`helm rollback <release>`).".into(),
            Kind::HookFailed => "A Helm hook of the chart failed: read the hook's job or pod logs, then retry.".into(),
            Kind::NoDeployedRelease => "The release has no deployed revision: `helm history <release>`; install it again with `helm upgrade --install`.".into(),
            Kind::Other => "Run again with --debug to see the whole command and what it printed.".into(),
        }
    }
}

/// kubectl's client-side log lines (klog): `E1201 17:13:08.123456   12345 memcache.go:265] ...`.
static KLOG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+\s+\d+ [^ \]]+:\d+\]").unwrap()
});
static FROM_SERVER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Error from server \(([A-Za-z]+)\)").unwrap());
// The server's address, as kubectl names it: `connection to the server HOST:PORT`,
// `Get "https://HOST:PORT/..."`, `dial tcp HOST:PORT:`.
static SERVER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"connection to the server ([A-Za-z0-9.\-\[\]:]+)|(?:Get|Post|Patch|Put|Delete) "(https?://[^/"]+)|dial tcp ([A-Za-z0-9.\-\[\]]+:\d+)"#).unwrap()
});
// `User "x" cannot create resource "pods" in API group "" in the namespace "ns"`
static FORBIDDEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"cannot ([a-z]+) resource "([^"]+)"(?: in API group "[^"]*")?(?: in the namespace "([^"]+)")?"#).unwrap()
});

static INVALID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^(?:Error from server \(Invalid\): )?(?:error when [a-z]+ "[^"]*": )?The [A-Za-z]+ "[^"]*" is invalid"#).unwrap()
});
static HOOK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"failed (pre|post)-(install|upgrade|delete|rollback)").unwrap());

/// The lines of stderr worth reading: klog lines and blanks dropped, repeats once.
fn meaningful_lines(stderr: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for line in stderr.lines().map(str::trim) {
        if line.is_empty() || KLOG.is_match(line) || out.contains(&line) {
            continue;
        }
        out.push(line);
    }
    out
}

/// Reads a failed call's stderr.
pub(crate) fn classify(stderr: &str) -> Reading {
    let lines = meaningful_lines(stderr);
    // Client noise only: the server address is still in the klog lines.
    let all = if lines.is_empty() {
        stderr.lines().map(str::trim).collect()
    } else {
        lines
    };
    let text = all.join("\n");
    let line = all
        .iter()
        .rev()
        .find(|l| {
            l.starts_with("Error")
                || l.starts_with("error")
                || l.contains("Unable to connect")
                || l.contains("The connection to the server")
        })
        .or(all.last())
        .map(|l| l.to_string())
        .unwrap_or_default();
    let lower = text.to_lowercase();
    // kubectl 1.33 prints a refused object as `The Pod "x" is invalid:` and one `* field:
    // cause` line per cause, without `Error from server`: the line is all of them.
    if let Some(at) = all.iter().position(|l| INVALID.is_match(l)) {
        let causes: Vec<&str> = all[at + 1..]
            .iter()
            .filter_map(|l| l.strip_prefix("* "))
            .collect();
        let head = all[at].trim_end_matches(':').trim();
        let line = if causes.is_empty() {
            head.to_string()
        } else {
            format!("{head}: {}", causes.join("; "))
        };
        return Reading {
            kind: Kind::Invalid,
            line,
        };
    }
    let kind = if let Some(reason) = FROM_SERVER.captures(&text).map(|c| c[1].to_string()) {
        match reason.as_str() {
            "Forbidden"
                if lower.contains("violates podsecurity")
                    || lower.contains("admission webhook")
                    || lower.contains("denied the request") =>
            {
                Kind::AdmissionDenied
            }
            "Forbidden" => forbidden(&text),
            "NotFound" => Kind::NotFound,
            "Conflict" | "AlreadyExists" => Kind::Conflict,
            "Invalid" | "UnprocessableEntity" => Kind::Invalid,
            "Unauthorized" => Kind::Unauthorized,
            "Timeout" | "ServerTimeout" | "GatewayTimeout" => Kind::Timeout,
            "BadRequest" if lower.contains("admission webhook") => Kind::AdmissionDenied,
            _ => Kind::Other,
        }
    } else if lower.contains("violates podsecurity")
        || lower.contains("admission webhook") && lower.contains("denied")
    {
        Kind::AdmissionDenied
    } else if lower.contains("another operation (install/upgrade/rollback) is in progress") {
        Kind::ReleaseBusy
    } else if lower.contains("has no deployed releases") {
        Kind::NoDeployedRelease
    } else if HOOK.is_match(&lower) || lower.contains("hook") && lower.contains("failed") {
        Kind::HookFailed
    } else if lower.contains("unauthorized")
        || lower.contains("must be logged in")
        || lower.contains("provide credentials")
        || lower.contains("token has expired")
        || lower.contains("certificate has expired") && lower.contains("client")
    {
        Kind::Unauthorized
    } else if lower.contains("forbidden") {
        forbidden(&text)
    } else if lower.contains("timeout exceeded")
        || lower.contains("i/o timeout")
        || lower.contains("timed out")
        || lower.contains("deadline exceeded")
    {
        Kind::Timeout
    } else if lower.contains("connection refused")
        || lower.contains("no route to host")
        || lower.contains("no such host")
        || lower.contains("network is unreachable")
        || lower.contains("tls: ")
        || lower.contains("x509: ")
        || lower.contains("unable to connect to the server")
        || lower.contains("was refused")
    {
        let server = SERVER
            .captures(&text)
            .and_then(|c| (1..=3).find_map(|i| c.get(i)))
            .map(|m| m.as_str().to_string());
        Kind::Unreachable { server }
    } else {
        Kind::Other
    };
    Reading { kind, line }
}

fn forbidden(text: &str) -> Kind {
    match FORBIDDEN.captures(text) {
        Some(c) => Kind::Forbidden {
            verb: Some(c[1].to_string()),
            resource: Some(c[2].to_string()),
            namespace: c.get(3).map(|m| m.as_str().to_string()),
        },
        None => Kind::Forbidden {
            verb: None,
            resource: None,
            namespace: None,
        },
    }
}

impl Reading {
    /// The one line an operator reads: the kind in plain words, then what the cluster said.
    pub fn summary(&self, what: &str) -> String {
        let said = strip_error_prefix(&self.line);
        match &self.kind {
            Kind::Unreachable { server } => format!(
                "cannot reach the cluster{} ({what}): {said}",
                server
                    .as_ref()
                    .map(|s| format!(" at {s}"))
                    .unwrap_or_default()
            ),
            Kind::Unauthorized => format!("the cluster refused the credentials ({what}): {said}"),
            Kind::Forbidden { .. } => format!("the cluster forbids it ({what}): {said}"),
            Kind::NotFound => format!("not found ({what}): {said}"),
            Kind::Conflict => format!("conflict ({what}): {said}"),
            Kind::Invalid => format!("the cluster refused the object as invalid ({what}): {said}"),
            Kind::AdmissionDenied => format!("admission denied ({what}): {said}"),
            Kind::Timeout => format!("the cluster did not answer in time ({what}): {said}"),
            Kind::ReleaseBusy => format!("the release is busy ({what}): {said}"),
            Kind::HookFailed => format!("a Helm hook failed ({what}): {said}"),
            Kind::NoDeployedRelease => {
                format!("the release has no deployed revision ({what}): {said}")
            }
            Kind::Other => format!("{what} failed: {said}"),
        }
    }
}

fn strip_error_prefix(line: &str) -> &str {
    let line = line
        .strip_prefix("error: ")
        .or_else(|| line.strip_prefix("Error: "))
        .unwrap_or(line);
    match FROM_SERVER.find(line) {
        Some(m) if m.start() == 0 => line[m.end()..].trim_start_matches(':').trim(),
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_1_33_unreachable_drops_the_memcache_noise() {
        let stderr = "E1201 17:13:08.123456   12345 memcache.go:265] \"Unhandled Error\" err=\"couldn't get current server API group list: Get \\\"https://127.0.0.1:1/api?timeout=30s\\\": dial tcp 127.0.0.1:1: connect: connection refused\"\n".repeat(5)
            + "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?\n";
        let r = classify(&stderr);
        assert_eq!(
            r.kind,
            Kind::Unreachable {
                server: Some("127.0.0.1:1".into())
            }
        );
        assert_eq!(r.line, "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?");
        assert!(!r.summary("kubectl get namespace").contains("memcache"));
    }

    #[test]
    fn the_api_server_s_reason_decides() {
        let cases = [
            (r#"Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:ns:nobody" cannot create resource "pods" in API group "" in the namespace "ns""#, Kind::Forbidden { verb: Some("create".into()), resource: Some("pods".into()), namespace: Some("ns".into()) }),
            (r#"Error from server (Forbidden): error when creating "STDIN": pods "x" is forbidden: violates PodSecurity "restricted:latest": runAsUser=0"#, Kind::AdmissionDenied),
            (r#"Error from server (NotFound): namespaces "gone" not found"#, Kind::NotFound),
            (r#"Error from server (Conflict): Apply failed with 1 conflict: conflict with "other" using v1: .data.a"#, Kind::Conflict),
            (r#"Error from server (Invalid): error when creating "STDIN": ConfigMap "x" is invalid: data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters"#, Kind::Invalid),
            ("The Pod \"x\" is invalid: \n* spec.securityContext.runAsUser: Invalid value: 3000000000: must be between 0 and 2147483647, inclusive", Kind::Invalid),
            ("error: You must be logged in to the server (Unauthorized)", Kind::Unauthorized),
            ("Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress", Kind::ReleaseBusy),
            (r#"Error: UPGRADE FAILED: "site-1" has no deployed releases"#, Kind::NoDeployedRelease),
            ("Error: INSTALLATION FAILED: failed pre-install: 1 error occurred:\n\t* job failed: BackoffLimitExceeded", Kind::HookFailed),
            ("Unable to connect to the server: net/http: request canceled (Client.Timeout exceeded while awaiting headers)", Kind::Timeout),
            ("Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority", Kind::Unreachable { server: None }),
            ("error: something else entirely", Kind::Other),
        ];
        for (stderr, kind) in cases {
            assert_eq!(classify(stderr).kind, kind, "{stderr}");
        }
    }
}
