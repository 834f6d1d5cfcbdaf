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
PY=/usr/bin/python3

log() { printf '[clients_test] %s\n' "$*" >&2; }
fail() {
  printf '[clients_test] FAIL: %s\n' "$*" >&2
  if [[ -n "${TMP:-}" && -f "$TMP/stderr.log" ]]; then
    printf -- '---- dynakv-server stderr (tail) ----\n' >&2
    tail -n 40 "$TMP/stderr.log" >&2 || true
  fi
  exit 1
}

[[ -x "$SERVER_BIN" ]] || fail "server binary $SERVER_BIN not found"
for tool in redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || fail "$tool not installed (apt-get install redis-tools)"
done
$PY -c 'import redis' 2>/dev/null || fail "/usr/bin/python3 cannot import redis (apt-get install python3-redis)"

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

TMP=$(mktemp -d /tmp/dynakv-clients-XXXXXX)
SERVER_PID=""
cleanup() {
  local rc=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
  exit $rc
}
trap cleanup EXIT INT TERM

PORT=$(free_port)
cat >"$TMP/dynakv.toml" <<EOF
[node]
id = "clients1"
data_dir = "$TMP/data"
[listen]
redis = "127.0.0.1:$PORT"
memcache = ""
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
log "started dynakv-server pid $SERVER_PID on port $PORT"

up=0
for _ in $(seq 1 100); do
  kill -0 "$SERVER_PID" 2>/dev/null || fail "dynakv-server exited during start-up"
  if [[ "$(timeout 2 redis-cli -p "$PORT" ping 2>/dev/null || true)" == "PONG" ]]; then
    up=1
    break
  fi
  sleep 0.1
done
[[ $up == 1 ]] || fail "dynakv-server did not answer PING within 10 s"

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
command -v npm >/dev/null || fail "npm not installed"
mkdir -p "$NODE_DIR"
(
  # One installer at a time; the folder is a cache reused by later runs.
  exec 9>"$NODE_DIR/.install.lock"
  flock -w 300 9 || exit 1
  if [[ ! -f "$NODE_DIR/node_modules/redis/package.json" ]]; then
    log "npm install redis@4 into $NODE_DIR (first run; cached afterwards)"
    [[ -f "$NODE_DIR/package.json" ]] || echo '{"name":"dynakv-node-client","private":true}' >"$NODE_DIR/package.json"
    timeout 240 npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error redis@4 >&2
  fi
) || fail "npm install redis@4 failed"

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
