#!/usr/bin/env bash
# tests/integration/transcript_test.sh: plays a command transcript (bits_transcript.py's
# format) against a real redis-server and a standalone dynakv and requires identical
# replies, byte for byte, in RESP2 and RESP3 (a transcript switches with HELLO 3). Used by
#   integration_hash  hash_transcript.txt: the hash commands, and TYPE, EXISTS, DEL, EXPIRE,
#                     TTL, PERSIST and the string commands on a hash
#   integration_set   set_transcript.txt: the set commands, the STORE forms replacing any
#                     type, and the keyspace commands on a set
# Usage: transcript_test.sh <dynakv-server binary> <transcript file>
# Free ports, a temp dir; both servers are started by this script and stopped by PID on exit
# (trap). Every wait is bounded.
set -euo pipefail

SERVER_BIN=${1:?usage: transcript_test.sh <dynakv-server> <transcript>}
file=${2:?usage: transcript_test.sh <dynakv-server> <transcript>}
HERE=$(cd "$(dirname "$0")" && pwd)
LOG_PREFIX="transcript $(basename "$file" .txt)"
source "$HERE/lib.sh"

[[ -x "$SERVER_BIN" ]] || fail "server binary $SERVER_BIN not found"
command -v redis-server >/dev/null || fail "redis-server not installed (apt-get install redis-server)"

start_dynakv tr1
SERVER_PID=$DKV_PID
DPORT=$DKV_PORT
start_redis_server
RPORT=$REDIS_PORT

timeout 60 $PY "$HERE/bits_transcript.py" "$RPORT" "$file" >"$TMP/redis.out" ||
  fail "transcript against redis-server failed"
timeout 60 $PY "$HERE/bits_transcript.py" "$DPORT" "$file" >"$TMP/dynakv.out" ||
  { tail -n 5 "$TMP/dynakv.out" >&2; fail "transcript against dynakv failed"; }
if ! diff -a -u "$TMP/redis.out" "$TMP/dynakv.out" >"$TMP/diff"; then
  head -n 80 "$TMP/diff" >&2
  fail "dynakv's replies differ from redis-server's (diff above: - redis, + dynakv)"
fi
log "$(grep -c '^> ' "$TMP/dynakv.out") commands, replies identical to redis-server"

# Hashes, sets, sorted sets and lists once more, pipelined 64 deep into fresh servers: adds
# that run back to back share a held header write, and list pushes and pops a held queue
# (docs/ARCHITECTURE.md, "Held header writes"); every other command must still see each of
# them as if it had run alone.
case "$(basename "$file")" in
  hash_*|set_*|zset_*|list_*)
    start_dynakv tr2
    SERVER2_PID=$DKV_PID
    start_redis_server
    timeout 60 $PY "$HERE/bits_transcript.py" "$REDIS_PORT" "$file" --pipeline 64 >"$TMP/redis-p.out" ||
      fail "pipelined transcript against redis-server failed"
    timeout 60 $PY "$HERE/bits_transcript.py" "$DKV_PORT" "$file" --pipeline 64 >"$TMP/dynakv-p.out" ||
      { tail -n 5 "$TMP/dynakv-p.out" >&2; fail "pipelined transcript against dynakv failed"; }
    if ! diff -a -u "$TMP/redis-p.out" "$TMP/dynakv-p.out" >"$TMP/diff-p"; then
      head -n 80 "$TMP/diff-p" >&2
      fail "pipelined: dynakv's replies differ from redis-server's (diff above: - redis, + dynakv)"
    fi
    cmp -s "$TMP/dynakv.out" "$TMP/dynakv-p.out" || fail "dynakv answered the pipelined transcript differently"
    log "pipelined 64 deep: replies identical to redis-server's and to the run one at a time"
    kill -0 "$SERVER2_PID" 2>/dev/null || fail "the second dynakv-server died during the test"
    ;;
esac

kill -0 "$SERVER_PID" 2>/dev/null || fail "dynakv-server died during the test"
log "PASS"
