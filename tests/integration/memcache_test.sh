#!/usr/bin/env bash
# tests/integration/memcache_test.sh: dynakv's memcached front end against real clients and
# against a real memcached.
#   1. libmemcached-tools (memccp, memccat, memcrm, memcstat) work against dynakv.
#   2. The same protocol transcript (memcache_transcript.txt, played by
#      memcache_transcript.py, which documents each normalisation: cas values, positive meta
#      TTLs, the version string) gives identical replies from `memcached -U 0` and dynakv.
#   3. Cross-protocol: a memcached set is read with redis-cli GET, and a redis-cli SET is
#      read with memcached get (flags 0).
#   4. A connection that starts with 0x80 speaks the binary protocol (memcache_binary_test.sh
#      has the full binary suite).
# Usage: memcache_test.sh <dynakv-server binary>
# Free ports, a temp data dir; both servers are started by this script and killed by PID on
# exit (trap). Every wait is bounded.
set -euo pipefail

SERVER_BIN=${1:?usage: memcache_test.sh <dynakv-server>}
HERE=$(cd "$(dirname "$0")" && pwd)
LOG_PREFIX=memcache_test
source "$HERE/lib.sh"

[[ -x "$SERVER_BIN" ]] || fail "server binary $SERVER_BIN not found"
for tool in memcached memccp memccat memcrm memcstat redis-cli; do
  command -v "$tool" >/dev/null || fail "$tool not installed (apt-get install memcached libmemcached-tools redis-tools)"
done

start_dynakv mc1 --memcache
SERVER_PID=$DKV_PID
RPORT=$DKV_PORT
MPORT=$DKV_MC_PORT
start_memcached
REAL_PORT=$MEMCACHED_PORT

SERVERS="--servers=127.0.0.1:$MPORT"

# ---- 1. libmemcached-tools ----------------------------------------------------------------
printf 'hello from memccp\nsecond line\n' >"$TMP/item.txt"
(cd "$TMP" && timeout 10 memccp "$SERVERS" item.txt) || fail "memccp failed"
got=$(timeout 10 memccat "$SERVERS" item.txt) || fail "memccat failed"
[[ "$got" == $'hello from memccp\nsecond line' ]] || fail "memccat returned '$got'"
stats=$(timeout 10 memcstat "$SERVERS") || fail "memcstat failed"
for field in pid uptime version curr_connections total_connections cmd_get cmd_set get_hits get_misses curr_items; do
  grep -q "^[[:space:]]*$field:" <<<"$stats" || fail "memcstat output lacks $field: $stats"
done
timeout 10 memcrm "$SERVERS" item.txt || fail "memcrm failed"
if timeout 10 memccat "$SERVERS" item.txt >/dev/null 2>&1; then fail "memccat found a removed item"; fi
log "libmemcached-tools: memccp/memccat/memcrm/memcstat ok"

# ---- 2. the same transcript against memcached and dynakv ----------------------------------
$PY "$HERE/memcache_transcript.py" "$REAL_PORT" "$HERE/memcache_transcript.txt" >"$TMP/memcached.out" ||
  fail "transcript against memcached failed"
$PY "$HERE/memcache_transcript.py" "$MPORT" "$HERE/memcache_transcript.txt" >"$TMP/dynakv.out" ||
  { cat "$TMP/dynakv.out" >&2; fail "transcript against dynakv failed"; }
if ! diff -a -u "$TMP/memcached.out" "$TMP/dynakv.out" >"$TMP/diff.txt"; then
  cat "$TMP/diff.txt" >&2
  fail "dynakv's replies differ from memcached's (diff above: - memcached, + dynakv)"
fi
log "transcript: $(grep -c '^> ' "$TMP/dynakv.out") requests, replies identical to memcached"

# ---- 3. cross-protocol ---------------------------------------------------------------------
mc() { $PY "$HERE/memcache_transcript.py" "$MPORT" "$1"; }
printf 'set xp:mc 5 0 11\\r\\nfrom-memcac\nquit\n' >"$TMP/x1.txt"
mc "$TMP/x1.txt" >"$TMP/x1.out"
grep -q STORED "$TMP/x1.out" || fail "memcached set for cross-protocol failed: $(cat "$TMP/x1.out")"
got=$(timeout 10 redis-cli -p "$RPORT" GET xp:mc)
[[ "$got" == "from-memcac" ]] || fail "redis-cli GET of a memcached set returned '$got'"
[[ $(timeout 10 redis-cli -p "$RPORT" SET xp:redis from-redis) == OK ]] || fail "redis-cli SET failed"
[[ $(timeout 10 redis-cli -p "$RPORT" INCRBY xp:ctr 41) == 41 ]] || fail "redis-cli INCRBY failed"
printf 'get xp:redis\nincr xp:ctr 1\nmg xp:redis v f\nquit\n' >"$TMP/x2.txt"
mc "$TMP/x2.txt" >"$TMP/x2.out"
expected=$'> get xp:redis\n  VALUE xp:redis 0 10\n  from-redis\n  END\n> incr xp:ctr 1\n  42\n> mg xp:redis v f\n  VA 10 f0\n  from-redis\n> quit\n  (closed)'
[[ "$(cat "$TMP/x2.out")" == "$expected" ]] || fail "memcached view of Redis writes: $(cat "$TMP/x2.out")"
[[ $(timeout 10 redis-cli -p "$RPORT" GET xp:ctr) == 42 ]] || fail "redis-cli GET after memcached incr"
log "cross-protocol ok"

# ---- 4. the same port speaks binary to a connection that starts with 0x80 -----------------
# (the full binary suite is memcache_binary_test.sh; here: the first byte picks the protocol,
# and a binary get reads what the text protocol wrote)
binout=$($PY - "$MPORT" <<'PYEOF'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
def get(key):
    # binary GET: magic 0x80, opcode 0x00, key length, extras 0, type 0, vbucket 0, body, opaque, cas
    s.sendall(struct.pack(">BBHBBHIIQ", 0x80, 0x00, len(key), 0, 0, 0, len(key), 0xDEADBEEF, 0) + key)
    hdr = b""
    while len(hdr) < 24:
        chunk = s.recv(24 - len(hdr))
        if not chunk:
            break
        hdr += chunk
    magic, op, _, extlen, _, status, body, opaque, _ = struct.unpack(">BBHBBHIIQ", hdr)
    msg = b""
    while len(msg) < body:
        chunk = s.recv(body - len(msg))
        if not chunk:
            break
        msg += chunk
    return f"{magic:#x} {status:#x} {opaque:#x} {msg[extlen:].decode()}"
print(get(b"k"), "|", get(b"xp:mc"))
PYEOF
) || fail "binary request: no well-formed reply"
[[ "$binout" == "0x81 0x1 0xdeadbeef Not found | 0x81 0x0 0xdeadbeef from-memcac" ]] ||
  fail "binary get got '$binout'"
log "binary protocol on the memcached port: a miss, then a text-written value, on one connection"

kill -0 "$SERVER_PID" 2>/dev/null || fail "dynakv-server died during the test"
log "PASS"
