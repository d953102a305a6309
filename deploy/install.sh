#!/usr/bin/env bash
# Takes a Debian or Ubuntu machine from this repository to Ferry running at boot under systemd.
# Run as root from a checkout (built or not):
#
#   sudo deploy/install.sh                 one machine: ferry start (SQLite in /var/lib/ferry)
#   sudo deploy/install.sh --scale-out     ferry api + ferry worker@1..2 (Redis and Postgres:
#                                          set them up with deploy/redis and deploy/postgres first)
#
# What it does, each step skipped when already done (running it again upgrades in place):
#   1. checks node >= 20.18.1 at /usr/bin/node (the units run that path)
#   2. creates the system user and group `ferry` (no login, no home)
#   3. builds the checkout if dist/ is missing, copies it to /opt/ferry (root-owned, read-only
#      to ferry) and installs the production dependencies there (npm ci --omit=dev)
#   4. writes /etc/ferry/ferry.env from deploy/ferry.env with a generated admin token
#      (root:root 0600; not printed) unless it exists
#   5. creates /var/lib/ferry (ferry:ferry 0700)
#   6. installs the units into /etc/systemd/system, then systemctl daemon-reload and
#      enable --now ferry.service (or enable ferry.target with --scale-out) and waits for /readyz
#
# Options:
#   --root DIR        install into DIR instead of / (a test root, an image being built)
#   --no-systemctl    lay the files down only; run no systemctl (no systemd as PID 1, a chroot)
#   --skip-npm        do not run npm in /opt/ferry (node_modules provided otherwise)
#   --scale-out       enable ferry.target (api + 2 workers) instead of ferry.service
set -euo pipefail

ROOT=/
SYSTEMCTL=1
NPM=1
SCALE_OUT=0
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --root=*) ROOT="${1#--root=}"; shift ;;
    --no-systemctl) SYSTEMCTL=0; shift ;;
    --skip-npm) NPM=0; shift ;;
    --scale-out) SCALE_OUT=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
ROOT="${ROOT%/}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run it as root (sudo): it creates a user and writes under /etc, /opt and /var/lib"
[ -d "$ROOT/" ] || die "--root $ROOT: no such directory"

# 1. Node. The units name /usr/bin/node; Debian's own nodejs package is too old (bookworm: 18),
# so install Node 20+ from NodeSource (https://github.com/nodesource/distributions) or similar.
if [ -f "$ROOT/etc/os-release" ] && ! grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' "$ROOT/etc/os-release"; then
  say "warning: not Debian or Ubuntu; the steps are the same elsewhere but untried"
fi
NODE=/usr/bin/node
[ -x "$NODE" ] || die "no $NODE: install Node.js 20.18.1 or later (e.g. NodeSource's nodejs package); the units run $NODE"
"$NODE" -e 'const [a,b,c]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&(b>18||(b===18&&c>=1)))?0:1)' \
  || die "node $("$NODE" --version) at $NODE is too old: Ferry needs 20.18.1 or later"

# 2. The user: a system account, no shell, no home. useradd --root works inside DIR's /etc.
if ! grep -q '^ferry:' "$ROOT/etc/passwd" 2>/dev/null; then
  mkdir -p "$ROOT/etc"
  touch "$ROOT/etc/passwd" "$ROOT/etc/group" "$ROOT/etc/shadow" "$ROOT/etc/gshadow"
  ROOTARG=(); [ "$ROOT" = "" ] || ROOTARG=(--root "$ROOT")
  grep -q '^ferry:' "$ROOT/etc/group" || groupadd "${ROOTARG[@]}" --system ferry
  useradd "${ROOTARG[@]}" --system --gid ferry --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --comment "Ferry postback delivery" ferry
  say "created user ferry"
fi
FERRY_UID="$(awk -F: '$1=="ferry"{print $3}' "$ROOT/etc/passwd")"
FERRY_GID="$(awk -F: '$1=="ferry"{print $3}' "$ROOT/etc/group")"

# 3. The application: built files only, owned by root so the service cannot change its own code.
if [ ! -f "$SRC/dist/src/cli/main.js" ]; then
  say "building $SRC (npm ci, npm run build)"
  (cd "$SRC" && npm ci && npm run build --silent)
fi
APP="$ROOT/opt/ferry"
install -d -m 0755 -o 0 -g 0 "$APP" "$APP/deploy" "$APP/packages/client"
rm -rf "$APP/dist" "$APP/packages/client/dist"
cp -R "$SRC/dist" "$APP/dist"
cp -R "$SRC/packages/client/dist" "$APP/packages/client/dist"
install -m 0644 -o 0 -g 0 "$SRC/package.json" "$SRC/package-lock.json" "$APP/"
install -m 0644 -o 0 -g 0 "$SRC/packages/client/package.json" "$APP/packages/client/"
install -m 0755 -o 0 -g 0 "$SRC/deploy/ferry-ready.mjs" "$APP/deploy/"
cp -R "$SRC/docs" "$APP/"
chown -R 0:0 "$APP"
chmod -R go-w,a+rX "$APP"
if [ "$NPM" = 1 ]; then
  # --ignore-scripts: the package's `prepare` would rebuild without the dev dependencies;
  # better-sqlite3's own install (a native addon, built for this machine) runs in the rebuild.
  say "installing production dependencies in /opt/ferry"
  (cd "$APP" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3)
fi

# 4. Settings: one file, readable by root only (systemd reads it before dropping to ferry).
install -d -m 0755 -o 0 -g 0 "$ROOT/etc/ferry"
ENV_FILE="$ROOT/etc/ferry/ferry.env"
if [ ! -f "$ENV_FILE" ]; then
  # The token is made and written by node: never on a command line (ps) or in the output.
  umask 077
  "$NODE" -e '
    const fs = require("node:fs");
    const token = require("node:crypto").randomBytes(32).toString("hex");
    const text = fs.readFileSync(process.argv[1], "utf8").replace(/^FERRY_ADMIN_TOKEN=.*$/m, "FERRY_ADMIN_TOKEN=" + token);
    fs.writeFileSync(process.argv[2], text, { mode: 0o600, flag: "wx" });
  ' "$SRC/deploy/ferry.env" "$ENV_FILE"
  umask 022
  chown 0:0 "$ENV_FILE"
  chmod 0600 "$ENV_FILE"
  # Not printed: install output ends up in logs. Read it as root when you need it.
  say "wrote /etc/ferry/ferry.env (root, 0600) with a new admin token: sudo grep FERRY_ADMIN_TOKEN /etc/ferry/ferry.env"
else
  chmod 0600 "$ENV_FILE"
  say "kept the existing /etc/ferry/ferry.env"
fi

# 5. Data: the SQLite file (one machine) and the admin token's hash. The units' StateDirectory
# would create it too; made here so the owner is right before the first start.
install -d -m 0700 -o "$FERRY_UID" -g "$FERRY_GID" "$ROOT/var/lib/ferry"

# 6. The units.
install -d -m 0755 "$ROOT/etc/systemd/system"
for unit in ferry.service ferry-api.service ferry-worker@.service ferry.target; do
  install -m 0644 -o 0 -g 0 "$SRC/deploy/systemd/$unit" "$ROOT/etc/systemd/system/$unit"
done

if [ "$SYSTEMCTL" = 0 ]; then
  say "files laid down under ${ROOT:-/}; systemctl not run (--no-systemctl)"
  exit 0
fi
[ "$ROOT" = "" ] || die "--root $ROOT without --no-systemctl: systemctl manages this machine, not $ROOT"
[ -d /run/systemd/system ] || die "systemd is not running here (PID 1 is $(ps -o comm= -p 1)); the files are in place: start it with your service manager, or use --no-systemctl"
systemctl daemon-reload
if [ "$SCALE_OUT" = 1 ]; then
  systemctl disable --now ferry.service 2>/dev/null || true
  systemctl enable ferry.target
  if ! grep -q '^FERRY_REDIS_URL=' "$ENV_FILE" || ! grep -q '^FERRY_DATABASE_URL=' "$ENV_FILE"; then
    say "enabled ferry.target, not started: set FERRY_REDIS_URL and FERRY_DATABASE_URL in /etc/ferry/ferry.env, run ferry migrate as the owner role (docs/operations.md#deploy), then: systemctl start ferry.target"
    exit 0
  fi
  systemctl start ferry.target
  say "ferry.target started: ferry-api and ferry-worker@1, @2 (systemctl status 'ferry*')"
else
  systemctl enable --now ferry.service
  say "ferry.service is running and ready (systemctl status ferry; journalctl -u ferry)"
fi
