# tests/integration/lib.sh: shared helpers for the integration shell scripts (clients_test.sh, tx_clients_test.sh,
# memcache_test.sh, memcache_binary_test.sh, bits_test.sh). Sourced, not run:
#
#   set -euo pipefail                 # stays in the caller
#   SERVER_BIN=...; LOG_PREFIX=name   # LOG_TAIL (lines of each server log shown on failure) is optional
#   source "$HERE/lib.sh"
#
# Sourcing makes the temp dir $TMP (once) and installs the exit trap. Every server started here
# is recorded (PID, name, log); on exit each is stopped by PID (TERM, up to 5 s, then KILL, then
# wait), $TMP is removed and the script's exit code is kept. fail() prints the tail of every
# recorded server's stderr log. Every wait is bounded.

PY=/usr/bin/python3  # Debian's python3-redis loads only under this interpreter
LOG_TAIL=${LOG_TAIL:-30}
STARTED_PIDS=()  # servers still to stop, by PID
SERVER_LOGS=()   # every server's stderr log (kept after the server stops)

log() { printf '[%s] %s\n' "$LOG_PREFIX" "$*" >&2; }

fail() {
  printf '[%s] FAIL: %s\n' "$LOG_PREFIX" "$*" >&2
  local f
  for f in "${SERVER_LOGS[@]}"; do
    [[ -f "$f" ]] || continue
    printf -- '---- %s (tail) ----\n' "${f##*/}" >&2
    tail -n "$LOG_TAIL" "$f" >&2 || true
  done
  exit 1
}

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Records a started server: pid stderr-log.
track_pid() {
  STARTED_PIDS+=("$1")
  SERVER_LOGS+=("$2")
}

# Stops the given PIDs (TERM, up to 5 s for all of them, KILL, wait) and forgets them.
stop_pid() {
  local pid i _ alive
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for pid in "$@"; do
      if kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    [[ $alive == 1 ]] || break
    sleep 0.1
  done
  for pid in "$@"; do
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for i in "${!STARTED_PIDS[@]}"; do
      if [[ "${STARTED_PIDS[$i]}" == "$pid" ]]; then unset 'STARTED_PIDS[i]'; fi
    done
  done
  return 0
}

cleanup() {
  local rc=$?
  trap - EXIT
  if [[ ${#STARTED_PIDS[@]} -gt 0 ]]; then stop_pid "${STARTED_PIDS[@]}"; fi
  if [[ -n "${TMP:-}" ]]; then rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMP=$(mktemp -d "/tmp/dynakv-$LOG_PREFIX-XXXXXX")

# Fails unless process <pid> (called <name>) is alive.
alive_or_fail() {
  kill -0 "$1" 2>/dev/null || fail "$2 exited during start-up"
}

# wait_ping <port> <seconds> [pid name]: until the RESP server on <port> answers PING (+PONG,
# or -NOAUTH from a server with requirepass: it is up). With a pid, fails as soon as it exits.
wait_ping() {
  local port=$1 secs=$2 pid=${3:-} name=${4:-server} _
  for _ in $(seq 1 $((secs * 10))); do
    [[ -z "$pid" ]] || alive_or_fail "$pid" "$name"
    if $PY -c "
import socket, sys
s = socket.create_connection(('127.0.0.1', $port), timeout=1)
s.sendall(b'PING\r\n')
r = s.recv(64)
sys.exit(0 if r.startswith((b'+PONG', b'-NOAUTH')) else 1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  fail "$name did not answer PING on port $port within $secs s"
}

# wait_port <port> <seconds> <pid> <name>: until <port> accepts a TCP connection.
wait_port() {
  local port=$1 secs=$2 pid=$3 name=$4 _
  for _ in $(seq 1 $((secs * 10))); do
    alive_or_fail "$pid" "$name"
    if $PY -c "import socket; socket.create_connection(('127.0.0.1',$port),timeout=1).close()" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  fail "$name did not listen on port $port within $secs s"
}

# start_dynakv <name> [--memcache] [extra TOML]: one standalone node (N=R=W=1, LMDB, batch
# sync) with data in $TMP/data-<name>, config $TMP/<name>.toml, logs $TMP/<name>.std{out,err}.log.
# --memcache also opens the memcached port. The extra TOML text (whole sections, e.g.
# $'[security]\nrequirepass = "pw"') is appended. Waits for PING (10 s) and sets DKV_PID,
# DKV_PORT (RESP) and DKV_MC_PORT (memcached; "" without --memcache).
start_dynakv() {
  local name=$1 mc_addr=""
  shift
  DKV_PORT=$(free_port)
  DKV_MC_PORT=""
  if [[ "${1:-}" == "--memcache" ]]; then
    DKV_MC_PORT=$(free_port)
    mc_addr="127.0.0.1:$DKV_MC_PORT"
    shift
  fi
  cat >"$TMP/$name.toml" <<EOF
[node]
id = "$name"
data_dir = "$TMP/data-$name"
[listen]
redis = "127.0.0.1:$DKV_PORT"
memcache = "$mc_addr"
cluster = ""
[replication]
n = 1
r = 1
w = 1
[storage]
engine = "lmdb"
sync = "batch"
${1:-}
EOF
  "$SERVER_BIN" --config "$TMP/$name.toml" >"$TMP/$name.stdout.log" 2>"$TMP/$name.stderr.log" &
  DKV_PID=$!
  track_pid "$DKV_PID" "$TMP/$name.stderr.log"
  wait_ping "$DKV_PORT" 10 "$DKV_PID" "dynakv-server $name"
  log "dynakv-server $name pid $DKV_PID: redis $DKV_PORT${DKV_MC_PORT:+, memcache $DKV_MC_PORT}"
}

# start_redis_server: a real redis-server (no persistence, dir $TMP/redis). Sets REDIS_PID, REDIS_PORT.
start_redis_server() {
  REDIS_PORT=$(free_port)
  mkdir -p "$TMP/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP/redis" \
    --daemonize no >"$TMP/redis.log" 2>&1 &
  REDIS_PID=$!
  track_pid "$REDIS_PID" "$TMP/redis.log"
  wait_ping "$REDIS_PORT" 10 "$REDIS_PID" redis-server
  log "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') pid $REDIS_PID on $REDIS_PORT"
}

# start_memcached: a real memcached (-U 0: no UDP). Sets MEMCACHED_PID, MEMCACHED_PORT.
start_memcached() {
  local user=()
  if [[ $(id -u) -eq 0 ]]; then user=(-u root); fi  # memcached refuses to run as root without -u
  MEMCACHED_PORT=$(free_port)
  memcached "${user[@]}" -p "$MEMCACHED_PORT" -U 0 -l 127.0.0.1 >"$TMP/memcached.log" 2>&1 &
  MEMCACHED_PID=$!
  track_pid "$MEMCACHED_PID" "$TMP/memcached.log"
  wait_port "$MEMCACHED_PORT" 10 "$MEMCACHED_PID" memcached
  log "memcached pid $MEMCACHED_PID on $MEMCACHED_PORT"
}
