#!/usr/bin/env bash
# The tests start their own throwaway PostgreSQL cluster; they need initdb/pg_ctl. Install Debian's server if missing.
set -euo pipefail
have_pg() {
  command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}
if have_pg; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL server binaries (initdb, pg_ctl) are missing; install Debian's 'postgresql' package." >&2
  exit 1
fi
echo "installing PostgreSQL server binaries (Debian package 'postgresql')" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
have_pg
