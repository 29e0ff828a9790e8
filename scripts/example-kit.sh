#!/usr/bin/env bash
# Writes an example provisioned project, shaped exactly like `nvflare provision` output:
#   <dest>/example_project/prod_00/{fl.example.com,site-1,Hospital_A,admin@nvidia.com}
# The non-secret files come from tests/fixtures/provisioned-kit; the root CA, certificates
# and private keys are made here with openssl, so no key is ever committed.
# Usage: scripts/example-kit.sh [DEST]   (default: target/example)
# Environment: CLIENTS (client names, default "site-1 Hospital_A"), KEY_ALG (rsa or ec,
# default rsa as nvflare provision uses; ec is faster for benchmarks of large federations).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixtures="$root/tests/fixtures/provisioned-kit"
dest="${1:-$root/target/example}"
project=example_project
server=fl.example.com
org=nvidia
prod="$dest/$project/prod_00"

command -v openssl >/dev/null || { echo "example-kit: openssl is required" >&2; exit 1; }
rm -rf "$dest/$project"
mkdir -p "$prod" "$dest/$project/state"
ca="$dest/$project/state"

openssl req -x509 -newkey rsa:2048 -nodes -days 365 -sha256 -subj "/CN=$project" \
  -keyout "$ca/rootCA.key" -out "$ca/rootCA.pem" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,digitalSignature,keyCertSign,cRLSign" 2>/dev/null

case "${KEY_ALG:-rsa}" in
  rsa) newkey=(-newkey rsa:2048) ;;
  ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
  *) echo "example-kit: KEY_ALG must be rsa or ec" >&2; exit 1 ;;
esac

# $1 kit folder, $2 common name, $3 cert/key base name (server or client)
issue() {
  local dir="$1" cn="$2" base="$3" san=()
  # DNS names cannot hold '_' or '@'; provision leaves such names out of the SAN too.
  case "$cn" in *[_@]*) ;; *) san=(-addext "subjectAltName=DNS:$cn") ;; esac
  openssl req -x509 "${newkey[@]}" -nodes -sha256 -days 365 -subj "/CN=$cn/O=$org" \
    -CA "$ca/rootCA.pem" -CAkey "$ca/rootCA.key" "${san[@]}" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -keyout "$dir/startup/$base.key" -out "$dir/startup/$base.crt" 2>/dev/null
  chmod 600 "$dir/startup/$base.key"
  cp "$ca/rootCA.pem" "$dir/startup/rootCA.pem"
}

# $1 fixture role, $2 participant name
kit() {
  local role="$1" name="$2" dir="$prod/$2"
  mkdir -p "$dir/transfer"
  cp -rp "$fixtures/$role/." "$dir/"
  find "$dir" -type f \( -name '*.json' -o -name '*.sh' \) -exec sed -i \
    -e "s/@PROJECT@/$project/g" -e "s/@SERVER@/$server/g" -e "s/@FL_PORT@/8002/g" \
    -e "s/@ADMIN_PORT@/8003/g" -e "s/@NAME@/$name/g" -e "s/@ORG@/$org/g" {} +
  case "$role" in
    server) issue "$dir" "$name" server ;;
    *) issue "$dir" "$name" client ;;
  esac
}

kit server "$server"
for client in ${CLIENTS:-site-1 Hospital_A}; do
  kit client "$client"
done
kit admin admin@nvidia.com
echo "$prod"
