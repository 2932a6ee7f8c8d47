#!/usr/bin/env bash
# `sam build` of one function (template.yaml: BuildMethod makefile; samconfig.toml: build in
# source), called by the Makefile's build-<LogicalId> target: every function of the workspace is
# built for Lambda once (cargo lambda, release, arm64), then this function's bootstrap is copied
# into SAM's artifacts directory. The first function pays for the workspace build; the others
# find it fresh (cargo's own check), so `sam build` costs one workspace build plus about 5%
# (`make bench PARTS=sambuild`).
#
#     infra/scripts/sam_build.sh <LogicalId> <ARTIFACTS_DIR>
set -euo pipefail
logical=$1
artifacts=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
py="$root/.tools/venv/bin/python"
[ -x "$py" ] || bash "$root/infra/scripts/bootstrap.sh"
bash "$root/infra/scripts/console_build.sh"   # the console function embeds console/dist
binary=$("$py" "$root/infra/scripts/routes.py" binary "$logical")
mkdir -p "$target" "$artifacts"
# cargo lambda finds zig (the arm64 linker) through the tools' python (pip package ziglang).
export PATH="$root/.tools/venv/bin:$PATH"
# sam build --parallel runs several targets at once: one workspace build at a time.
exec 9>"$target/.sam-build.lock"
flock 9
"$root/.tools/venv/bin/cargo-lambda" lambda build --release --arm64 --workspace --bins \
  --manifest-path "$root/Cargo.toml" >&2
cp "$target/lambda/$binary/bootstrap" "$artifacts/bootstrap"
