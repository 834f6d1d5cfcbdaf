#!/usr/bin/env bash
# tests/integration/package_test.sh BUILD_DIR: the Debian package end to end. Builds it with
# cpack into BUILD_DIR/pkg, checks its contents (binary, conffiles, unit, logrotate file, man
# page) and the unit's `systemd-analyze security` rating (OK or better), installs it (as root
# with dpkg: `dpkg -i`; otherwise, or when a dynakv package is already installed, extracted
# into a scratch root with dpkg-deb -x), starts the installed binary with the installed
# config (free ports, data and log in a temp dir), PINGs it, stops it by PID, and purges the
# package so the machine is left as it was. Every wait is bounded.
set -euo pipefail
BUILD=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
LOG_PREFIX=package
source "$HERE/lib.sh"

INSTALLED_BY_US=0
USER_CREATED_BY_US=0
purge() {
  local rc=$?
  if [[ $INSTALLED_BY_US == 1 ]]; then
    dpkg_retry -P dynakv >/dev/null || log "dpkg -P dynakv failed"
    if [[ $USER_CREATED_BY_US == 1 ]] && getent passwd dynakv >/dev/null; then
      userdel dynakv 2>/dev/null || true
      getent group dynakv >/dev/null && groupdel dynakv 2>/dev/null || true
    fi
  fi
  (exit $rc)
  cleanup
}
trap purge EXIT

# dpkg with a bounded wait for the dpkg lock (other jobs may be running apt).
dpkg_retry() {
  local i out
  for i in $(seq 1 60); do
    if out=$(dpkg "$@" 2>&1); then printf '%s\n' "$out"; return 0; fi
    if ! grep -q "lock" <<<"$out"; then printf '%s\n' "$out" >&2; return 1; fi
    sleep 2
  done
  printf '%s\n' "$out" >&2
  return 1
}

# ---- build ----------------------------------------------------------------------------------
rm -rf "$BUILD/pkg"
(cd "$BUILD" && cpack -G DEB -B "$BUILD/pkg" >"$TMP/cpack.log" 2>&1) || { cat "$TMP/cpack.log" >&2; fail "cpack failed"; }
DEB=$(ls "$BUILD"/pkg/dynakv_*_*.deb)
log "built $DEB ($(stat -c %s "$DEB") bytes)"

# ---- contents -------------------------------------------------------------------------------
dpkg-deb -c "$DEB" | awk '{print $6}' >"$TMP/contents"
for f in ./usr/bin/dynakv-server ./etc/dynakv/dynakv.toml ./usr/lib/systemd/system/dynakv.service \
         ./etc/logrotate.d/dynakv ./usr/share/man/man1/dynakv-server.1.gz; do
  grep -qx -- "$f" "$TMP/contents" || fail "package lacks $f; it holds: $(tr '\n' ' ' <"$TMP/contents")"
done
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles >"$TMP/conffiles"
grep -qx /etc/dynakv/dynakv.toml "$TMP/conffiles" || fail "dynakv.toml is not a conffile"
grep -qx /etc/logrotate.d/dynakv "$TMP/conffiles" || fail "the logrotate file is not a conffile"
dpkg-deb -f "$DEB" Depends | grep -q libuv1 || fail "Depends lacks the shared libraries: $(dpkg-deb -f "$DEB" Depends)"

ROOT="$TMP/root"
dpkg-deb -x "$DEB" "$ROOT"
UNIT="$ROOT/usr/lib/systemd/system/dynakv.service"
grep -qx 'ExecStart=/usr/bin/dynakv-server --config /etc/dynakv/dynakv.toml' "$UNIT" || fail "unit ExecStart: $(grep ExecStart "$UNIT")"
for d in User=dynakv StateDirectory=dynakv ProtectSystem=strict NoNewPrivileges=yes \
         'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'CapabilityBoundingSet=' \
         'SystemCallFilter=@system-service' MemoryDenyWriteExecute=yes ProtectHome=yes PrivateTmp=yes; do
  grep -qx -- "$d" "$UNIT" || fail "unit lacks $d"
done
if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
  systemd-analyze security --offline=yes "$UNIT" >"$TMP/security" 2>&1 || true
  line=$(grep "Overall exposure level" "$TMP/security" || true)
  [[ -n "$line" ]] || { cat "$TMP/security" >&2; fail "no rating from systemd-analyze security"; }
  log "systemd-analyze security: ${line#*: }"
  grep -qE "Overall exposure level.* (OK|SAFE|PERFECT)" <<<"$line" || fail "unit rated worse than OK: $line"
else
  log "SKIP rating: this systemd-analyze has no --offline"
fi
# The man page renders without warnings.
if command -v man >/dev/null; then
  MANWIDTH=80 man --warnings -l "$ROOT/usr/share/man/man1/dynakv-server.1.gz" >"$TMP/man.txt" 2>"$TMP/man.err" || fail "man -l failed: $(cat "$TMP/man.err")"
  [[ ! -s "$TMP/man.err" ]] || fail "man page warnings: $(cat "$TMP/man.err")"
  grep -qE "dynakv-server +- +Dynamo-style" "$TMP/man.txt" || fail "man page has no NAME line"
fi

# ---- install --------------------------------------------------------------------------------
BIN="$ROOT/usr/bin/dynakv-server"
CONF="$ROOT/etc/dynakv/dynakv.toml"
if [[ $(id -u) == 0 ]] && command -v dpkg >/dev/null && ! dpkg-query -W dynakv >/dev/null 2>&1; then
  getent passwd dynakv >/dev/null || USER_CREATED_BY_US=1
  INSTALLED_BY_US=1
  dpkg_retry -i "$DEB" >"$TMP/dpkg.log" || { cat "$TMP/dpkg.log" >&2; fail "dpkg -i failed"; }
  log "installed with dpkg -i"
  BIN=/usr/bin/dynakv-server
  CONF=/etc/dynakv/dynakv.toml
  dpkg-query -W -f='${Conffiles}\n' dynakv | grep -q /etc/dynakv/dynakv.toml || fail "dpkg does not list the conffile"
  getent passwd dynakv >/dev/null || fail "postinst did not create the dynakv user"
  [[ $(stat -c %U /var/lib/dynakv) == dynakv ]] || fail "/var/lib/dynakv is not owned by dynakv"
  [[ $(stat -c %U /var/log/dynakv) == dynakv ]] || fail "/var/log/dynakv is not owned by dynakv"
else
  log "not root, no dpkg, or a dynakv package already installed: using the scratch root $ROOT"
fi

# ---- run the installed binary with the installed config -------------------------------------
PORT=$(free_port)
MPORT=$(free_port)
mkdir -p "$TMP/logs"
"$BIN" --config "$CONF" --port "$PORT" --listen.memcache "127.0.0.1:$MPORT" \
  --node.data_dir "$TMP/data" --log.file "$TMP/logs/dynakv.log" 2>"$TMP/stderr.log" &
PID=$!
track_pid "$PID" "$TMP/stderr.log"
SERVER_LOGS+=("$TMP/logs/dynakv.log")
for _ in $(seq 1 100); do
  alive_or_fail "$PID" "the installed dynakv-server"
  [[ "$(redis-cli -p "$PORT" PING 2>/dev/null)" == PONG ]] && break
  sleep 0.1
done
[[ "$(redis-cli -p "$PORT" PING)" == PONG ]] || fail "no PONG from the installed server"
[[ "$(redis-cli -p "$PORT" SET pkg ok)" == OK ]] || fail "SET failed"
grep -q "dynakv ready" "$TMP/logs/dynakv.log" || fail "the log file has no ready line"

# The packaged logrotate file, pointed at this node's log, with its postrotate signal sent to
# this PID (no systemd here): after a forced rotation the node writes to a new file.
if command -v logrotate >/dev/null; then
  sed -e "s#/var/log/dynakv/\*.log#$TMP/logs/*.log#" \
      -e "s#systemctl kill --kill-who=main --signal=HUP dynakv.service#kill -HUP $PID#" \
      -e "s#if \[ -d /run/systemd/system \]#if true#" \
      "$ROOT/etc/logrotate.d/dynakv" >"$TMP/logrotate.conf"
  getent passwd dynakv >/dev/null || sed -i '/^ *create /d' "$TMP/logrotate.conf"
  logrotate -f -s "$TMP/logrotate.state" "$TMP/logrotate.conf" 2>"$TMP/logrotate.err" || fail "logrotate: $(cat "$TMP/logrotate.err")"
  [[ -f "$TMP/logs/dynakv.log.1" ]] || fail "logrotate did not rotate: $(ls "$TMP/logs")"
  for _ in $(seq 1 50); do
    grep -q "log reopened" "$TMP/logs/dynakv.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "log reopened: $TMP/logs/dynakv.log" "$TMP/logs/dynakv.log" || fail "the node did not reopen its log after logrotate"
  redis-cli -p "$PORT" PING >/dev/null
  log "logrotate rotated the log and the node reopened it (SIGHUP)"
else
  log "SKIP logrotate run: logrotate is not installed"
fi
stop_pid "$PID"
grep -q "shutdown complete" "$TMP/logs/dynakv.log" || fail "no clean shutdown in the log"
log "installed binary answered PING on port $PORT and stopped cleanly"

if [[ $INSTALLED_BY_US == 1 ]]; then
  dpkg_retry -P dynakv >/dev/null || fail "dpkg -P failed"
  INSTALLED_BY_US=0
  [[ ! -e /usr/bin/dynakv-server && ! -e /etc/dynakv && ! -e /var/lib/dynakv ]] || fail "purge left files behind"
  if [[ $USER_CREATED_BY_US == 1 ]]; then
    userdel dynakv 2>/dev/null || true
    getent group dynakv >/dev/null && groupdel dynakv 2>/dev/null || true
  fi
  log "purged"
fi
log "PASS"
