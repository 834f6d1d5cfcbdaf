#!/usr/bin/env bash
# tests/integration/bits_test.sh: the bit and string commands (SETBIT GETBIT BITCOUNT BITPOS
# BITOP BITFIELD BITFIELD_RO LCS SORT SORT_RO, SETRANGE/GETRANGE and the INCR family's
# limits) against a real redis-server: the same command transcripts give identical replies.
#   1. bits_transcript.txt: hand-written edge cases (errors included), in RESP2 and RESP3.
#   2. Random transcripts (bits_transcript.py --generate, fixed seeds): thousands of bit
#      commands with random ranges, field types, offsets, overflow modes and values, with
#      GETs in between, so the stored bytes are compared as well as the replies.
# Usage: bits_test.sh <dynakv-server binary>
# Free ports, a temp dir; both servers are started by this script and stopped by PID on exit
# (trap). Every wait is bounded.
set -euo pipefail

SERVER_BIN=${1:?usage: bits_test.sh <dynakv-server>}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
SEEDS=(11 12 13)
COUNT=1500

log() { printf '[bits_test] %s\n' "$*" >&2; }
fail() {
  printf '[bits_test] FAIL: %s\n' "$*" >&2
  if [[ -n "${TMP:-}" && -f "$TMP/stderr.log" ]]; then
    printf -- '---- dynakv-server stderr (tail) ----\n' >&2
    tail -n 30 "$TMP/stderr.log" >&2 || true
  fi
  exit 1
}

[[ -x "$SERVER_BIN" ]] || fail "server binary $SERVER_BIN not found"
command -v redis-server >/dev/null || fail "redis-server not installed (apt-get install redis-server)"

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

TMP=$(mktemp -d /tmp/dynakv-bits-XXXXXX)
SERVER_PID=""
REDIS_PID=""
stop_pid() {
  local pid=$1
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop_pid "$SERVER_PID"
  stop_pid "$REDIS_PID"
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT INT TERM

wait_port() {  # pid port name
  for _ in $(seq 1 100); do
    kill -0 "$1" 2>/dev/null || fail "$3 exited during start-up"
    if $PY -c "import socket,sys; socket.create_connection(('127.0.0.1',$2),timeout=1).close()" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  fail "$3 did not listen on port $2 within 10 s"
}

DPORT=$(free_port)
cat >"$TMP/dynakv.toml" <<EOF
[node]
id = "bits1"
data_dir = "$TMP/data"
[listen]
redis = "127.0.0.1:$DPORT"
cluster = ""
[replication]
n = 1
r = 1
w = 1
[storage]
engine = "lmdb"
sync = "batch"
EOF
"$SERVER_BIN" --config "$TMP/dynakv.toml" >"$TMP/stdout.log" 2>"$TMP/stderr.log" &
SERVER_PID=$!
wait_port "$SERVER_PID" "$DPORT" dynakv-server
log "dynakv-server pid $SERVER_PID on $DPORT"

RPORT=$(free_port)
mkdir -p "$TMP/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP/redis" \
  --daemonize no >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
wait_port "$REDIS_PID" "$RPORT" redis-server
log "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') pid $REDIS_PID on $RPORT"

# Plays transcript $1 on both servers (after FLUSHALL) and requires identical output.
compare() {
  local name=$1 file=$2
  printf 'flushall\n' >"$TMP/flush.txt"
  for port in "$RPORT" "$DPORT"; do
    timeout 30 $PY "$HERE/bits_transcript.py" "$port" "$TMP/flush.txt" >/dev/null ||
      fail "FLUSHALL on port $port failed"
  done
  timeout 120 $PY "$HERE/bits_transcript.py" "$RPORT" "$file" >"$TMP/$name.redis" ||
    fail "$name: transcript against redis-server failed"
  timeout 120 $PY "$HERE/bits_transcript.py" "$DPORT" "$file" >"$TMP/$name.dynakv" ||
    { tail -n 5 "$TMP/$name.dynakv" >&2; fail "$name: transcript against dynakv failed"; }
  if ! diff -a -u "$TMP/$name.redis" "$TMP/$name.dynakv" >"$TMP/$name.diff"; then
    head -n 80 "$TMP/$name.diff" >&2
    fail "$name: dynakv's replies differ from redis-server's (diff above: - redis, + dynakv)"
  fi
  log "$name: $(grep -c '^> ' "$TMP/$name.dynakv") commands, replies identical to redis-server"
}

# ---- 1. hand-written edge cases ------------------------------------------------------------
compare edge_cases "$HERE/bits_transcript.txt"

# ---- 2. random transcripts -----------------------------------------------------------------
for seed in "${SEEDS[@]}"; do
  $PY "$HERE/bits_transcript.py" --generate "$seed" "$COUNT" >"$TMP/random_$seed.txt"
  compare "random_seed_$seed" "$TMP/random_$seed.txt"
done

kill -0 "$SERVER_PID" 2>/dev/null || fail "dynakv-server died during the test"
log "PASS"
