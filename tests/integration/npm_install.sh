#!/usr/bin/env bash
# tests/integration/npm_install.sh: installs npm packages for the integration tests into a
# cache folder under the build dir (once; later runs reuse it), one installer at a time.
# Usage: npm_install.sh <cache dir> <package@version> ...
# Each package@version is installed unless <cache dir>/node_modules/<package> exists.
set -euo pipefail
DIR=${1:?usage: npm_install.sh <cache dir> <package@version> ...}
shift
command -v npm >/dev/null || { echo "npm not installed" >&2; exit 1; }
mkdir -p "$DIR"
exec 9>"$DIR/.install.lock"
flock -w 300 9 || { echo "timed out waiting for $DIR/.install.lock" >&2; exit 1; }
[[ -f "$DIR/package.json" ]] || echo '{"name":"dynakv-node-client","private":true}' >"$DIR/package.json"
missing=()
for spec in "$@"; do
  name=${spec%@*}
  [[ -f "$DIR/node_modules/$name/package.json" ]] || missing+=("$spec")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "npm install ${missing[*]} into $DIR (first run; cached afterwards)" >&2
  timeout 240 npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "${missing[@]}" >&2
fi
