#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3 in the browser, with a real Node extension host) from
# the npm registry into a cache folder that later runs on the same machine reuse:
#
#   ${CODE_SERVER_HOME:-$HOME/.cache/aep-code-server}/node_modules/.bin/code-server
#
# The VS Code end-to-end test (tests/e2e/vscode/) looks there (or at $CODE_SERVER_BIN). 4.100.3 is the
# last release whose engines.node accepts Node 20. Needs no download outside the npm registry and
# Debian's apt. Three obstacles, and what gets past each:
#   1. @vscode/ripgrep downloads rg from GitHub unless its cache holds the tarball: we put Debian's
#      rg there;
#   2. node-pty's postinstall runs `npx node-gyp`: npm_config_yes=true (machines say yes=false);
#   3. as root the postinstall needs npm_config_unsafe_perm=true; the kerberos addon needs
#      libkrb5-dev; native modules build against /usr/include/node (npm_config_nodedir=/usr).
# Idempotent: a finished install leaves a marker and the script then exits at once.
set -euo pipefail

VERSION=4.100.3
RIPGREP_PKG_VERSION=1.15.11           # @vscode/ripgrep, as code-server 4.100.3 pins it
RIPGREP_ASSET=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
CODE_SERVER_HOME=${CODE_SERVER_HOME:-$HOME/.cache/aep-code-server}
BIN="$CODE_SERVER_HOME/node_modules/.bin/code-server"
MARKER="$CODE_SERVER_HOME/.installed-$VERSION"

if [ -f "$MARKER" ] && [ -x "$BIN" ]; then
  echo "code-server $VERSION already installed: $BIN"
  exit 0
fi

start=$(date +%s)

# System packages: rg (to seed @vscode/ripgrep's cache), the Kerberos headers, a C++ toolchain.
missing=()
command -v rg >/dev/null || missing+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install_code_server.sh: needs these Debian packages: ${missing[*]} (run as root or apt-get install them)" >&2
    exit 1
  fi
  echo "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -f /usr/include/node/node.h ]; then
  echo "install_code_server.sh: Node's headers are missing at /usr/include/node (Debian's nodejs ships them)" >&2
  exit 1
fi

# 1. The ripgrep cache: @vscode/ripgrep's postinstall looks here before it tries GitHub.
tmpdir=$(node -p 'require("os").tmpdir()')
rg_cache="$tmpdir/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
if [ ! -s "$rg_cache/$RIPGREP_ASSET" ]; then
  mkdir -p "$rg_cache"
  stage=$(mktemp -d)
  cp "$(command -v rg)" "$stage/rg"
  tar -czf "$rg_cache/$RIPGREP_ASSET.partial" -C "$stage" rg
  mv "$rg_cache/$RIPGREP_ASSET.partial" "$rg_cache/$RIPGREP_ASSET"
  rm -rf "$stage"
fi

# 2 and 3. Install in a staging folder beside the cache, then move it into place, so an interrupted
# install is never taken for a finished one.
mkdir -p "$(dirname "$CODE_SERVER_HOME")"
staging="$CODE_SERVER_HOME.partial.$$"
rm -rf "$staging"
mkdir -p "$staging"
trap 'rm -rf "$staging"' EXIT
echo '{"name":"aep-code-server-cache","private":true}' >"$staging/package.json"
echo "npm install code-server@$VERSION into $CODE_SERVER_HOME (takes a minute or two: native modules compile)"
(
  cd "$staging"
  npm_config_yes=true npm_config_unsafe_perm=true npm_config_nodedir=/usr \
    npm install --no-audit --no-fund --loglevel=error "code-server@$VERSION"
)
"$staging/node_modules/.bin/code-server" --version >/dev/null
rm -rf "$CODE_SERVER_HOME"
mv "$staging" "$CODE_SERVER_HOME"
trap - EXIT
touch "$MARKER"
echo "code-server $("$BIN" --version | head -n1) installed in $(( $(date +%s) - start ))s: $BIN"
