//! A stand-in `kubectl`, for what a real cluster cannot be made to do on cue (hang, flood,
//! garble): logs every call's arguments and stdin, and answers like a cluster
//! would, failures included, as the test's environment variables ask:
//! - `STUB_NAMESPACE_EXISTS=0`: the namespace is missing.
//! - `STUB_PVC=missing|Pending|Bound`: the PVC's state (`STUB_PVC_PHASE_JSON`: its phase
//!   as a JSON string, for phases that need escaping).
//! - `STUB_WAIT=timeout`, `STUB_WAIT_SLEEP=N`: the helper pod never gets ready / takes N s.
//! - `STUB_FAIL=<text>`: any call whose arguments contain `<text>` fails.
//! - `STUB_NS_ANNOTATIONS`: JSON members for the namespace's annotations.
//! - `STUB_HANG=<text>`: a call whose arguments contain `<text>` never answers.
//! - `STUB_FLOOD=<text>`: a call whose arguments contain `<text>` prints without end.
//! - `STUB_LOGS`: what `kubectl logs` prints (default: a parent's last lines).
//!
//! For `verify`:
//! - `STUB_KUBE_CA`: PEM file of the kubeconfig's cluster CA (none: no current context).
//! - `STUB_ROLLOUT=timeout`; `STUB_PODS=ready|imagepull|pending|crash|none`.
//! - `STUB_SERVICE_PORTS=8002,8003,8102`; `STUB_DENY="create pods"`; `STUB_WORKSPACE=missing`.

use std::path::{Path, PathBuf};

use super::write;

const SCRIPT: &str = r#"#!/usr/bin/env bash
n=$(find "$STUB_LOG_DIR" -maxdepth 1 -name '*.args' | wc -l)
seq=$(printf '%04d' "$n")
printf '%s\0' "$@" > "$STUB_LOG_DIR/$seq.args"
# The first KUBECONFIG file, with its mode, as this call saw it.
first="${KUBECONFIG%%:*}"
if [ -n "$first" ] && [ -f "$first" ]; then
  { stat -c '%a' "$first"; cat "$first"; } > "$STUB_LOG_DIR/$seq.kubeconfig"
  printf '%s' "$KUBECONFIG" > "$STUB_LOG_DIR/$seq.kubeconfig-env"
fi
if [ -n "${STUB_HANG:-}" ] && [[ " $* " == *"$STUB_HANG"* ]]; then exec sleep 1000; fi
if [ -n "${STUB_FLOOD:-}" ] && [[ " $* " == *"$STUB_FLOOD"* ]]; then exec yes 'pod-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'; fi
all=" $* "
case "$all" in *" -f - "*) cat > "$STUB_LOG_DIR/$seq.stdin" ;; esac
if [ -n "${STUB_FAIL:-}" ] && [[ "$all" == *"$STUB_FAIL"* ]]; then
  echo "error: stub failure for '$STUB_FAIL'" >&2
  exit 1
fi
pod_json() { # $1 phase, $2 ready, $3 waiting reason
  local waiting=""
  [ -n "$3" ] && waiting="\"waiting\":{\"reason\":\"$3\",\"message\":\"stub $3\"}"
  echo "{\"items\":[{\"metadata\":{\"name\":\"parent-abc\"},\"status\":{\"phase\":\"$1\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"$2\"}],\"containerStatuses\":[{\"name\":\"c\",\"state\":{$waiting}}]}}]}"
}
case "$all" in
  *" auth can-i "*)
    if [ -n "${STUB_DENY:-}" ] && [[ "$all" == *" can-i $STUB_DENY "* ]]; then echo no; exit 1; fi
    echo yes ;;
  *" config view "*)
    if [ -z "${STUB_KUBE_CA:-}" ]; then echo 'error: current-context must exist in order to minify' >&2; exit 1; fi
    echo "{\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":\"https://k8s:6443\",\"certificate-authority-data\":\"$(base64 -w0 < "$STUB_KUBE_CA")\"}}]}" ;;
  *" rollout status "*)
    if [ "${STUB_ROLLOUT:-ok}" = timeout ]; then echo 'error: timed out waiting for the condition' >&2; exit 1; fi
    echo 'deployment "x" successfully rolled out' ;;
  *" get pods "*)
    case "${STUB_PODS:-ready}" in
      ready) pod_json Running True "" ;;
      imagepull) pod_json Pending False ImagePullBackOff ;;
      pending) pod_json Pending False "" ;;
      crash) pod_json Running False CrashLoopBackOff ;;
      none) echo '{"items":[]}' ;;
    esac ;;
  *" get events "*" -o json "*)
    echo '{"items":[{"reason":"FailedScheduling","message":"0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}' ;;
  *" logs "*)
    if [ -n "${STUB_LOGS:-}" ]; then printf '%b' "$STUB_LOGS"; else
    printf 'starting parent\nModuleNotFoundError: No module named kubernetes\n'; fi ;;
  *" get service "*)
    ports=""; IFS=, read -ra ps <<< "${STUB_SERVICE_PORTS:-8102}"
    for port in "${ps[@]}"; do ports="$ports{\"port\":$port},"; done
    echo "{\"spec\":{\"ports\":[${ports%,}]}}" ;;
  *" exec deploy/"*)
    if [ "${STUB_WORKSPACE:-ok}" = missing ]; then echo "ls: /var/tmp/nvflare/workspace/startup/fed_client.json: No such file or directory" >&2; exit 1; fi
    echo ok ;;
  *" get namespace "*)
    if [ "${STUB_NAMESPACE_EXISTS:-1}" = 1 ]; then
      echo "{\"metadata\":{\"name\":\"ns\",\"annotations\":{${STUB_NS_ANNOTATIONS:-}}}}"
    elif [[ "$all" == *" --ignore-not-found "* ]]; then exit 0
    else
      echo 'Error from server (NotFound): namespaces "ns" not found' >&2; exit 1
    fi ;;
  *" get pvc "*)
    if [ "${STUB_PVC:-Bound}" = missing ]; then
      if [[ "$all" == *" --ignore-not-found "* ]]; then exit 0; fi
      echo 'Error from server (NotFound): persistentvolumeclaims "nvflws" not found' >&2; exit 1
    fi
    phase_json="${STUB_PVC_PHASE_JSON:-\"${STUB_PVC:-Bound}\"}"
    printf '{"kind":"PersistentVolumeClaim","status":{"phase":%s}}\n' "$phase_json" ;;
  *" wait "*)
    [ -n "${STUB_WAIT_SLEEP:-}" ] && sleep "$STUB_WAIT_SLEEP"
    if [ "${STUB_WAIT:-ok}" = timeout ]; then
      echo 'error: timed out waiting for the condition on pods/nvflare-stage' >&2; exit 1
    fi
    echo "pod/nvflare-stage condition met" ;;
  *" get events "*)
    echo 'Warning   Failed   Failed to pull image "busybox:1.36": not found' ;;
  *" cp "*)
    prev=""; for a in "$@"; do
      if [ "$prev" = stage ] && [ -d "$a" ]; then echo "$a" >> "$STUB_LOG_DIR/copied"; fi
      prev="$a"
    done ;;
  *" find "*)
    if [ -f "$STUB_LOG_DIR/copied" ]; then
      while read -r d; do
        base=$(basename "$d")
        (cd "$d" && find . -type f | sed "s|^\./|/workspace/$base/|")
      done < "$STUB_LOG_DIR/copied"
    fi ;;
  *) echo "ok" ;;
esac
"#;

pub struct StubCluster {
    pub bin_dir: PathBuf,
    pub log: PathBuf,
}

/// A spy in front of the real kubectl: logs each call as the stand-in does (arguments,
/// stdin of `-f -`, the kubeconfig it saw) and runs the real one, against the real cluster.
const SPY: &str = r#"#!/usr/bin/env bash
n=$(find "$STUB_LOG_DIR" -maxdepth 1 -name '*.args' | wc -l)
seq=$(printf '%04d' "$n")
printf '%s\0' "$@" > "$STUB_LOG_DIR/$seq.args"
first="${KUBECONFIG%%:*}"
if [ -n "$first" ] && [ -f "$first" ]; then
  { stat -c '%a' "$first"; cat "$first"; } > "$STUB_LOG_DIR/$seq.kubeconfig"
  printf '%s' "$KUBECONFIG" > "$STUB_LOG_DIR/$seq.kubeconfig-env"
fi
case " $* " in *" -f - "*) tee "$STUB_LOG_DIR/$seq.stdin" | "$SPY_REAL_KUBECTL" "$@"; exit ;; esac
exec "$SPY_REAL_KUBECTL" "$@"
"#;

impl StubCluster {
    pub fn new(root: &Path) -> StubCluster {
        Self::with_script(root, SCRIPT)
    }

    /// The spy: real kubectl (`SPY_REAL_KUBECTL`) behind a log of every call.
    pub fn spy(root: &Path) -> StubCluster {
        Self::with_script(root, SPY)
    }

    fn with_script(root: &Path, text: &str) -> StubCluster {
        use std::os::unix::fs::PermissionsExt;
        let bin_dir = root.join("stub-bin");
        let script = write(&bin_dir.join("kubectl"), text);
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let log = root.join("kubectl-log");
        std::fs::create_dir_all(&log).unwrap();
        StubCluster { bin_dir, log }
    }

    /// PATH with the stand-in first.
    pub fn path(&self) -> String {
        format!(
            "{}:{}",
            self.bin_dir.display(),
            std::env::var("PATH").unwrap()
        )
    }

    /// The kubeconfig each call saw first in KUBECONFIG: (mode, contents, KUBECONFIG).
    pub fn kubeconfigs(&self) -> Vec<(String, String, String)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.log)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "kubeconfig"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).unwrap();
                let (mode, body) = text.split_once('\n').unwrap();
                let env = std::fs::read_to_string(p.with_extension("kubeconfig-env")).unwrap();
                (mode.to_string(), body.to_string(), env)
            })
            .collect()
    }

    /// Every call so far: (arguments, stdin).
    pub fn calls(&self) -> Vec<(Vec<String>, Option<String>)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.log)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "args"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let args = std::fs::read_to_string(p)
                    .unwrap()
                    .split_terminator('\0')
                    .map(str::to_string)
                    .collect();
                let stdin = std::fs::read_to_string(p.with_extension("stdin")).ok();
                (args, stdin)
            })
            .collect()
    }

    /// Each call reduced to its verb and object: flags (`--x`, and `--` itself) left out.
    pub fn summary(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|(args, _)| {
                let words: Vec<&str> = args
                    .iter()
                    .map(String::as_str)
                    .filter(|a| !a.starts_with("--"))
                    .collect();
                match words.as_slice() {
                    ["exec", _, "-c", "stage", rest @ ..] => format!("exec {}", rest.join(" ")),
                    ["cp", "-c", "stage", from, to] => format!(
                        "cp {} {}",
                        Path::new(from).file_name().unwrap().to_string_lossy(),
                        to
                    ),
                    other => other.iter().take(3).copied().collect::<Vec<_>>().join(" "),
                }
            })
            .collect()
    }

    pub fn reset(&self) {
        std::fs::remove_dir_all(&self.log).unwrap();
        std::fs::create_dir_all(&self.log).unwrap();
    }
}
