#!/usr/bin/env bash
# Builds pgvector from Debian's source package of the next release (bookworm has none) and installs
# it into the local PostgreSQL 15. Idempotent: does nothing when the extension is already installed.
# A private sources list keeps the system's apt lists untouched.
set -euo pipefail

PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
SUITE="${PGVECTOR_SUITE:-trixie}"
WORK="${PGVECTOR_WORK:-/tmp/keel-pgvector}"

sharedir() { "$PG_CONFIG" --sharedir 2>/dev/null || true; }

if [ -x "$PG_CONFIG" ] && [ -f "$(sharedir)/extension/vector.control" ]; then
  echo "pgvector: already installed in $(sharedir)/extension"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if [ ! -x "$PG_CONFIG" ] || [ ! -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ] || ! command -v dpkg-source >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq postgresql-server-dev-15 dpkg-dev build-essential >/dev/null
fi

# Same archive URI as the system's debian.sources, for suite $SUITE, sources only.
URI="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
URI="${URI:-http://deb.debian.org/debian}"
mkdir -p "$WORK/lists/partial" "$WORK/src"
echo "deb-src [trusted=yes] $URI $SUITE main" > "$WORK/sources.list"
APT_OPTS=(-o "Dir::Etc::sourcelist=$WORK/sources.list" -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$WORK/lists" -o "APT::Get::List-Cleanup=0")
apt-get "${APT_OPTS[@]}" update -qq
cd "$WORK/src"
rm -rf ./pgvector-*
apt-get "${APT_OPTS[@]}" source -qq --download-only pgvector
dpkg-source -x --no-check ./pgvector_*.dsc >/dev/null
cd "$(find . -maxdepth 1 -type d -name 'pgvector-*' | head -1)"
make -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
echo "pgvector: installed $(grep default_version "$(sharedir)/extension/vector.control")"
