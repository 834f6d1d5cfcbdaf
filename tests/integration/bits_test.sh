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
SEEDS=(11 12 13)
COUNT=1500
LOG_PREFIX=bits_test
source "$HERE/lib.sh"

[[ -x "$SERVER_BIN" ]] || fail "server binary $SERVER_BIN not found"
command -v redis-server >/dev/null || fail "redis-server not installed (apt-get install redis-server)"

start_dynakv bits1
SERVER_PID=$DKV_PID
DPORT=$DKV_PORT
start_redis_server
RPORT=$REDIS_PORT

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
