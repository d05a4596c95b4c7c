#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3, the newest release that runs on Node 20) into .e2e/ at the
# repository root (gitignored) and installs the packaged PruneLens .vsix into it, for test/e2e/code-server.test.ts.
#
# The recipe is the one measured in /work/shared/NOTES.md. code-server's own postinstall cannot run offline
# (its `npm install` of lib/vscode runs install scripts that download Electron/ripgrep binaries), so we:
#   install with --ignore-scripts, install lib/vscode's production packages without scripts, point
#   @vscode/ripgrep at Debian's rg, rebuild the native modules against the local Node headers, make the links
#   postinstall.sh would make, install the built-in extensions' packages and rebuild argon2.
# Idempotent: every step leaves a stamp in .e2e/stamps/ and is skipped when its stamp is there, so a second run
# only reinstalls the .vsix (a few seconds). PRUNELENS_E2E_DIR overrides the folder (e.g. to time a clean run).
#
# Usage: test/e2e/setup-code-server.sh [path/to/prunelens.vsix]   (default: runs `npm run package`)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
E2E="${PRUNELENS_E2E_DIR:-$ROOT/.e2e}"
VERSION=4.100.3
CS="$E2E/node_modules/code-server"
VSC="$CS/lib/vscode"
STAMPS="$E2E/stamps"
# code-server reads its config.yaml from here; keep it out of the user's home.
export XDG_CONFIG_HOME="$E2E/config"
export XDG_DATA_HOME="$E2E/data"
# Native modules are compiled against the running Node's own headers: node-gyp would otherwise download them
# from nodejs.org, which is not reachable here.
NODE_PREFIX="$(dirname "$(dirname "$(command -v node)")")"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$NODE_PREFIX/include/node/node_version.h" ]; then export npm_config_nodedir="$NODE_PREFIX"; fi
mkdir -p "$E2E" "$STAMPS" "$XDG_CONFIG_HOME" "$XDG_DATA_HOME"

T0=$SECONDS
step() { # step NAME COMMAND...: runs once, stamped, timed
  local name="$1"; shift
  if [ -f "$STAMPS/$name" ]; then echo "[setup] $name: already done"; return 0; fi
  local t=$SECONDS
  echo "[setup] $name ..."
  "$@"
  touch "$STAMPS/$name"
  echo "[setup] $name: $((SECONDS - t)) s"
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

system_packages() {
  # libkrb5-dev: headers for the `kerberos` native module; ripgrep: VS Code's search (the npm package's
  # install script downloads its binary from GitHub, which is not reachable here).
  local missing=()
  dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
  command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

install_code_server() {
  # A package.json of its own so npm treats .e2e/ as a separate project, never the repository root.
  [ -f "$E2E/package.json" ] || echo '{"private":true,"description":"code-server for the PruneLens e2e test; see test/e2e/setup-code-server.sh"}' > "$E2E/package.json"
  # --ignore-scripts: its postinstall would run the online installs below; --unsafe-perm as the recipe says for
  # root (npm 11 ignores it with a warning; older npm needs it).
  npm install "code-server@$VERSION" --prefix "$E2E" --ignore-scripts --unsafe-perm --no-audit --no-fund --no-save
}

vscode_packages() { (cd "$VSC" && npm install --omit=dev --ignore-scripts --no-audit --no-fund); }

ripgrep_link() {
  mkdir -p "$VSC/node_modules/@vscode/ripgrep/bin"
  ln -sfn "$(command -v rg)" "$VSC/node_modules/@vscode/ripgrep/bin/rg"
}

# npm rebuild runs every package's install scripts; `yes` answers node-gyp/prebuild prompts.
vscode_rebuild() { (cd "$VSC" && npm_config_yes=true npm rebuild); }

postinstall_links() {
  # What code-server's postinstall.sh does besides the installs (Linux branch).
  (cd "$VSC" && rm -rf node_modules.asar && ln -s node_modules node_modules.asar)
  (cd "$VSC/bin/remote-cli" && rm -rf code-server && ln -s code-linux.sh code-server)
  (cd "$VSC/bin/helpers" && rm -rf browser.sh && ln -s browser-linux.sh browser.sh)
}

builtin_extensions() { (cd "$VSC/extensions" && npm install --omit=dev --no-audit --no-fund); }

argon2_rebuild() { (cd "$E2E" && npm rebuild argon2); }

# A stamp from another version means a different install: start over.
if [ -f "$STAMPS/version" ] && [ "$(cat "$STAMPS/version")" != "$VERSION" ]; then rm -rf "$STAMPS" "$E2E/node_modules"; mkdir -p "$STAMPS"; fi
echo "$VERSION" > "$STAMPS/version"

step system-packages system_packages
step code-server install_code_server
step vscode-packages vscode_packages
step ripgrep-link ripgrep_link
step vscode-rebuild vscode_rebuild
step postinstall-links postinstall_links
step builtin-extensions builtin_extensions
step argon2-rebuild argon2_rebuild

# Fails here, not in the test, when the install is broken.
node "$CS/out/node/entry.js" --version

# The extension: always reinstalled, so the e2e test runs the current build.
VSIX="${1:-}"
if [ -z "$VSIX" ]; then
  (cd "$ROOT" && npm run --silent package)
  VSIX="$(ls -t "$ROOT"/*.vsix | head -n 1)"
fi
t=$SECONDS
node "$CS/out/node/entry.js" --extensions-dir "$E2E/extensions" --user-data-dir "$E2E/user-data" --install-extension "$VSIX" --force
echo "[setup] install-extension: $((SECONDS - t)) s"
echo "[setup] done in $((SECONDS - T0)) s"
