#!/usr/bin/env bash
# tests/integration/clients_test.sh: real Redis clients against a real dynakv node.
#   redis-py (Debian's python3-redis, run with /usr/bin/python3), node-redis v4 (npm-installed
#   into a cache folder under the build dir at test time), redis-cli and redis-benchmark each
#   do a SET/GET/EXPIRE/SCAN round trip (redis-benchmark: -t set,get).
# Usage: clients_test.sh <dynakv-server binary> <node client cache dir>
# The script picks free ports, starts the server with a temp data dir and always kills it by
# PID on exit (trap). Every wait is bounded.
set -euo pipefail

SERVER_BIN=${1:?usage: clients_test.sh <dynakv-server> <node cache dir>}
NODE_DIR=${2:?usage: clients_test.sh <dynakv-server> <node cache dir>}
HERE=$(cd "$(dirname "$0")" && pwd)
LOG_PREFIX=clients_test
LOG_TAIL=40
source "$HERE/lib.sh"

[[ -x "$SERVER_BIN" ]] || fail "server binary $SERVER_BIN not found"
for tool in redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || fail "$tool not installed (apt-get install redis-tools)"
done
$PY -c 'import redis' 2>/dev/null || fail "/usr/bin/python3 cannot import redis (apt-get install python3-redis)"

start_dynakv clients1
PORT=$DKV_PORT
SERVER_PID=$DKV_PID

# ---- redis-cli -----------------------------------------------------------------------------
RC="timeout 10 redis-cli -p $PORT"
[[ "$($RC ping)" == "PONG" ]] || fail "redis-cli ping"
[[ "$($RC set cli:key hello)" == "OK" ]] || fail "redis-cli set"
[[ "$($RC get cli:key)" == "hello" ]] || fail "redis-cli get"
[[ "$($RC expire cli:key 100)" == "1" ]] || fail "redis-cli expire"
ttl=$($RC ttl cli:key)
[[ "$ttl" -ge 98 && "$ttl" -le 100 ]] || fail "redis-cli ttl: got $ttl"
for i in $(seq 1 30); do echo "SET cliscan:$i v$i"; done | $RC >/dev/null || fail "redis-cli piped SETs"
n=$($RC --scan --pattern 'cliscan:*' | sort -u | wc -l)
[[ "$n" == "30" ]] || fail "redis-cli --scan found $n of 30 keys"
$RC info | grep -q '^# Dynamo' || fail "redis-cli info lacks # Dynamo"
[[ "$($RC dbsize)" == "31" ]] || fail "redis-cli dbsize: $($RC dbsize)"
log "redis-cli: ok"

# ---- redis-py ------------------------------------------------------------------------------
timeout 60 $PY - "$PORT" <<'EOF' || fail "redis-py round trip"
import sys, time, redis
port = int(sys.argv[1])
r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, decode_responses=True)
assert r.ping() is True
assert r.set("py:key", "hello") is True
assert r.get("py:key") == "hello"
assert r.get("py:missing") is None
assert r.expire("py:key", 100) is True
ttl = r.ttl("py:key")
assert 98 <= ttl <= 100, ttl
assert r.set("py:short", "x", px=100) is True
time.sleep(0.3)
assert r.get("py:short") is None, "PX 100 did not expire"
for i in range(50):
    r.set(f"pyscan:{i}", i)
found = set(r.scan_iter(match="pyscan:*", count=9))
assert found == {f"pyscan:{i}" for i in range(50)}, sorted(found)
p = r.pipeline(transaction=False)
for i in range(100):
    p.incr("py:ctr")
res = p.execute()
assert res == list(range(1, 101)), res[:5]
assert r.mget("py:key", "py:missing") == ["hello", None]
rb = redis.Redis(host="127.0.0.1", port=port)
blob = bytes(range(256)) * 4
rb.set(b"py:\x00bin\r\n", blob)
assert rb.get(b"py:\x00bin\r\n") == blob
try:
    r.execute_command("GET")
    raise AssertionError("expected an error")
except redis.ResponseError as e:
    assert "wrong number of arguments" in str(e), e
assert r.delete("py:key") == 1
info = r.info()
assert "redis_version" in info, info
print("redis-py ok, redis-py", redis.__version__)
EOF
log "redis-py: ok"

# ---- node-redis v4 -------------------------------------------------------------------------
command -v node >/dev/null || fail "node not installed"
# One installer at a time (a lock in the folder); the folder is a cache reused by later runs.
bash "$HERE/npm_install.sh" "$NODE_DIR" redis@4 || fail "npm install redis@4 failed"

NODE_PATH="$NODE_DIR/node_modules" timeout 60 node - "$PORT" <<'EOF' || fail "node-redis round trip"
const { createClient } = require('redis');
const port = Number(process.argv[2]);
function assert(cond, msg) { if (!cond) throw new Error('assertion failed: ' + msg); }
(async () => {
  const client = createClient({ socket: { host: '127.0.0.1', port, connectTimeout: 5000 } });
  client.on('error', (e) => { console.error('client error', e); });
  await client.connect();
  assert((await client.ping()) === 'PONG', 'ping');
  assert((await client.set('node:key', 'hello')) === 'OK', 'set');
  assert((await client.get('node:key')) === 'hello', 'get');
  assert((await client.get('node:missing')) === null, 'missing');
  assert((await client.expire('node:key', 100)) === true, 'expire');
  const ttl = await client.ttl('node:key');
  assert(ttl >= 98 && ttl <= 100, 'ttl ' + ttl);
  for (let i = 0; i < 40; i++) await client.set(`nodescan:${i}`, String(i));
  const seen = new Set();
  for await (const k of client.scanIterator({ MATCH: 'nodescan:*', COUNT: 7 })) seen.add(k);
  assert(seen.size === 40, 'scan found ' + seen.size);
  const multi = await Promise.all([client.incr('node:ctr'), client.incr('node:ctr'), client.incr('node:ctr')]);
  assert(JSON.stringify(multi) === '[1,2,3]', 'pipelined incr ' + JSON.stringify(multi));
  await client.set('node:px', 'x', { PX: 100 });
  await new Promise((r) => setTimeout(r, 300));
  assert((await client.get('node:px')) === null, 'PX expiry');
  await client.quit();
  console.log('node-redis ok');
})().catch((e) => { console.error(e); process.exit(1); });
EOF
log "node-redis: ok"

# ---- redis-benchmark -----------------------------------------------------------------------
out=$(timeout 120 redis-benchmark -h 127.0.0.1 -p "$PORT" -t set,get -n 2000 -q 2>&1) || fail "redis-benchmark failed: $out"
printf '%s\n' "$out" | tr '\r' '\n' | grep -E '^(SET|GET):' >&2 || true
printf '%s\n' "$out" | tr '\r' '\n' | grep -qE '^SET: .*requests per second' || fail "redis-benchmark SET line missing: $out"
printf '%s\n' "$out" | tr '\r' '\n' | grep -qE '^GET: .*requests per second' || fail "redis-benchmark GET line missing: $out"
! printf '%s\n' "$out" | grep -qi 'error' || fail "redis-benchmark reported errors: $out"
[[ "$($RC ping)" == "PONG" ]] || fail "server unhealthy after redis-benchmark"
log "redis-benchmark: ok"

kill -0 "$SERVER_PID" 2>/dev/null || fail "dynakv-server died during the client tests"
log "all client round trips passed"
