#!/usr/bin/env bash
# tests/integration/hash_test.sh: the hash commands (HSET HSETNX HGET HMGET HMSET HDEL
# HEXISTS HLEN HSTRLEN HKEYS HVALS HGETALL HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN) and how
# TYPE, EXISTS, DEL, EXPIRE, TTL, PERSIST and the string commands treat a hash, against a
# real redis-server: hash_transcript.txt gives identical replies on both, in RESP2 and RESP3.
# Usage: hash_test.sh <dynakv-server binary>
# Free ports, a temp dir; both servers are started by this script and stopped by PID on exit
# (trap). Every wait is bounded.
set -euo pipefail

SERVER_BIN=${1:?usage: hash_test.sh <dynakv-server>}
HERE=$(cd "$(dirname "$0")" && pwd)
LOG_PREFIX=hash_test
source "$HERE/lib.sh"

[[ -x "$SERVER_BIN" ]] || fail "server binary $SERVER_BIN not found"
command -v redis-server >/dev/null || fail "redis-server not installed (apt-get install redis-server)"

start_dynakv hash1
SERVER_PID=$DKV_PID
DPORT=$DKV_PORT
start_redis_server
RPORT=$REDIS_PORT

file="$HERE/hash_transcript.txt"
timeout 60 $PY "$HERE/bits_transcript.py" "$RPORT" "$file" >"$TMP/redis.out" ||
  fail "transcript against redis-server failed"
timeout 60 $PY "$HERE/bits_transcript.py" "$DPORT" "$file" >"$TMP/dynakv.out" ||
  { tail -n 5 "$TMP/dynakv.out" >&2; fail "transcript against dynakv failed"; }
if ! diff -a -u "$TMP/redis.out" "$TMP/dynakv.out" >"$TMP/diff"; then
  head -n 80 "$TMP/diff" >&2
  fail "dynakv's replies differ from redis-server's (diff above: - redis, + dynakv)"
fi
log "$(grep -c '^> ' "$TMP/dynakv.out") commands, replies identical to redis-server"

kill -0 "$SERVER_PID" 2>/dev/null || fail "dynakv-server died during the test"
log "PASS"
