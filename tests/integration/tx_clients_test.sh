#!/usr/bin/env bash
# tests/integration/tx_clients_test.sh: transactions through stock clients, on a 3-node
# cluster (N=3 R=2 W=2) and a standalone node:
#   redis-py pipeline() with its defaults (MULTI/EXEC), redis-py's WATCH recipe
#   (r.transaction with a concurrent writer through another node), ioredis multi() and
#   node-redis multi(); and the memcached binary protocol across the cluster's nodes (set
#   through one, get/cas through the others, text and binary reading the same item).
# Usage: tx_clients_test.sh <dynakv-server binary> <node client cache dir>
# Picks free ports, starts the servers with temp data dirs and kills them by PID on exit.
# Every wait is bounded.
set -euo pipefail

SERVER_BIN=${1:?usage: tx_clients_test.sh <dynakv-server> <node cache dir>}
NODE_DIR=${2:?usage: tx_clients_test.sh <dynakv-server> <node cache dir>}
LOG_PREFIX=tx_clients
source "$(dirname "$0")/lib.sh"

[[ -x "$SERVER_BIN" ]] || fail "server binary $SERVER_BIN not found"
$PY -c 'import redis' 2>/dev/null || fail "/usr/bin/python3 cannot import redis (apt-get install python3-redis)"

# Three cluster nodes and one standalone node.
RPORTS=() CPORTS=() MPORTS=()
for i in 0 1 2; do RPORTS+=("$(free_port)"); CPORTS+=("$(free_port)"); MPORTS+=("$(free_port)"); done
SEEDS="\"127.0.0.1:${CPORTS[0]}\", \"127.0.0.1:${CPORTS[1]}\", \"127.0.0.1:${CPORTS[2]}\""
for i in 0 1 2; do
  cat >"$TMP/n$i.toml" <<EOF
[node]
id = "tx$i"
data_dir = "$TMP/data$i"
[listen]
redis = "127.0.0.1:${RPORTS[$i]}"
memcache = "127.0.0.1:${MPORTS[$i]}"
cluster = "127.0.0.1:${CPORTS[$i]}"
[replication]
n = 3
r = 2
w = 2
[cluster]
seeds = [$SEEDS]
gossip_interval_ms = 100
EOF
  "$SERVER_BIN" --config "$TMP/n$i.toml" >"$TMP/n$i.out" 2>"$TMP/n$i.log" &
  track_pid $! "$TMP/n$i.log"
done
SPORT=$(free_port)
"$SERVER_BIN" --listen.redis "127.0.0.1:$SPORT" --listen.memcache "" --node.data_dir "$TMP/single" \
  >"$TMP/single.out" 2>"$TMP/single.log" &
track_pid $! "$TMP/single.log"

# Up, and the cluster converged (each node sees 3 members up).
for _ in $(seq 1 200); do
  ok=1
  for p in "${RPORTS[@]}" "$SPORT"; do
    [[ "$(timeout 2 redis-cli -p "$p" ping 2>/dev/null || true)" == "PONG" ]] || ok=0
  done
  if [[ $ok == 1 ]]; then
    for p in "${RPORTS[@]}"; do
      n=$(timeout 2 redis-cli -p "$p" dynamo members 2>/dev/null | grep -c '^up$' || true)
      [[ "$n" == "3" ]] || ok=0
    done
  fi
  [[ $ok == 1 ]] && break
  sleep 0.1
done
[[ $ok == 1 ]] || fail "servers did not come up and converge within 20 s"
log "3-node cluster on ${RPORTS[*]} and a standalone node on $SPORT"

# ---- redis-py ------------------------------------------------------------------------------
for target in "${RPORTS[0]} ${RPORTS[1]}" "$SPORT $SPORT"; do
  timeout 60 $PY - $target <<'EOF' || fail "redis-py transactions ($target)"
import sys, threading, redis
a = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10, decode_responses=True)
b = redis.Redis(host="127.0.0.1", port=int(sys.argv[2]), socket_timeout=10, decode_responses=True)
a.delete("py:tx:n", "py:tx:s", "py:tx:acct")
# pipeline() with its defaults is a MULTI/EXEC transaction.
p = a.pipeline()
p.incr("py:tx:n").incr("py:tx:n").set("py:tx:s", "v").expire("py:tx:s", 100).get("py:tx:s")
assert p.execute() == [1, 2, True, True, "v"]
# A run-time error inside the transaction comes back in its slot (raise_on_error=False).
p = a.pipeline()
p.set("py:tx:s", "text").incr("py:tx:s").get("py:tx:s")
res = p.execute(raise_on_error=False)
assert res[0] is True and isinstance(res[1], redis.ResponseError) and res[2] == "text", res
# The WATCH recipe: increment under optimistic locking, with a writer through another node
# interfering on the first attempts; every increment lands exactly once.
a.set("py:tx:acct", 0)
interfere = {"left": 3}
def incr_watched(pipe):
    cur = int(pipe.get("py:tx:acct"))
    if interfere["left"] > 0:
        interfere["left"] -= 1
        b.incr("py:tx:acct", 1000)  # a concurrent write through the other node
        cur = cur  # stale now: EXEC must fail and the recipe retry
    pipe.multi()
    pipe.set("py:tx:acct", cur + 1)
for _ in range(10):
    a.transaction(incr_watched, "py:tx:acct")
assert int(a.get("py:tx:acct")) == 3000 + 10, a.get("py:tx:acct")
# WatchError surfaces when the key changes between WATCH and EXEC.
with a.pipeline() as pipe:
    pipe.watch("py:tx:acct")
    b.set("py:tx:acct", "changed")
    pipe.multi()
    pipe.set("py:tx:acct", "mine")
    try:
        pipe.execute()
        raise AssertionError("expected WatchError")
    except redis.WatchError:
        pass
assert b.get("py:tx:acct") == "changed"
print("redis-py transactions ok on", sys.argv[1:])
EOF
done
log "redis-py: ok"

# ---- ioredis and node-redis ----------------------------------------------------------------
bash "$(dirname "$0")/npm_install.sh" "$NODE_DIR" redis@4 ioredis@5 || fail "npm install failed"

for port in "${RPORTS[2]}" "$SPORT"; do
  NODE_PATH="$NODE_DIR/node_modules" timeout 60 node - "$port" <<'EOF' || fail "ioredis/node-redis multi on $port"
const Redis = require('ioredis');
const { createClient } = require('redis');
const port = Number(process.argv[2]);
function assert(c, m) { if (!c) throw new Error('assertion failed: ' + m); }
(async () => {
  const io = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await io.connect();
  await io.del('io:tx:n', 'io:tx:k');
  // ioredis multi(): [[err, result], ...]
  const res = await io.multi().incr('io:tx:n').incr('io:tx:n').set('io:tx:k', 'v').expire('io:tx:k', 50).get('io:tx:k').exec();
  assert(JSON.stringify(res) === JSON.stringify([[null, 1], [null, 2], [null, 'OK'], [null, 1], [null, 'v']]), JSON.stringify(res));
  // The "atomic increment plus expire" recipe.
  const r2 = await io.multi().incr('io:tx:rate').expire('io:tx:rate', 60).exec();
  assert(r2[0][1] >= 1 && r2[1][1] === 1, JSON.stringify(r2) + ' ' + String(r2[1][0]));
  assert((await io.ttl('io:tx:rate')) > 50, 'ttl after multi');
  // A queued command with a syntax error aborts the transaction (EXECABORT).
  let aborted = false;
  try { await io.multi().set('io:tx:k', 'x').call('nosuchcommand').exec(); } catch (e) { aborted = /EXECABORT/.test(String(e)); }
  assert(aborted, 'EXECABORT not reported');
  assert((await io.get('io:tx:k')) === 'v', 'aborted transaction wrote');
  // WATCH: a concurrent write from another connection makes exec() resolve to null.
  const other = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
  await other.connect();
  await io.watch('io:tx:k');
  await other.set('io:tx:k', 'theirs');
  const w = await io.multi().set('io:tx:k', 'mine').exec();
  assert(w === null, 'watched exec should be null, got ' + JSON.stringify(w));
  assert((await io.get('io:tx:k')) === 'theirs', 'watch lost the other write');
  io.disconnect(); other.disconnect();
  // node-redis multi().exec()
  const nr = createClient({ socket: { host: '127.0.0.1', port, connectTimeout: 5000 } });
  nr.on('error', (e) => console.error('client error', e));
  await nr.connect();
  const m = await nr.multi().set('nr:tx:k', 'a').append('nr:tx:k', 'b').get('nr:tx:k').exec();
  assert(JSON.stringify(m) === JSON.stringify(['OK', 2, 'ab']), JSON.stringify(m));
  await nr.quit();
  console.log('ioredis and node-redis multi ok on', port);
})().catch((e) => { console.error(e); process.exit(1); });
EOF
done
log "ioredis / node-redis: ok"

# ---- memcached binary protocol across nodes -------------------------------------------------
timeout 60 $PY - "${MPORTS[@]}" <<'EOF' || fail "memcached binary protocol across nodes"
import socket, struct, sys
ports = [int(p) for p in sys.argv[1:]]
def conn(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)
def req(s, op, key=b"", extras=b"", value=b"", cas=0, opaque=7):
    body = extras + key + value
    s.sendall(struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, len(body), opaque, cas) + body)
    hdr = b""
    while len(hdr) < 24:
        chunk = s.recv(24 - len(hdr))
        assert chunk, "connection closed"
        hdr += chunk
    magic, rop, klen, elen, _, status, blen, ropaque, rcas = struct.unpack(">BBHBBHIIQ", hdr)
    assert magic == 0x81 and rop == op and ropaque == opaque, (magic, rop, ropaque)
    body = b""
    while len(body) < blen:
        body += s.recv(blen - len(body))
    return status, body[elen + klen:], rcas
GET, SET, DELETE, INCR = 0x00, 0x01, 0x04, 0x05
a, b, c = (conn(p) for p in ports)
st, _, cas1 = req(a, SET, b"mcbin:k", struct.pack(">II", 5, 0), b"hello")
assert st == 0 and cas1 != 0, st
st, val, cas_b = req(b, GET, b"mcbin:k")
assert st == 0 and val == b"hello", (st, val)
assert cas_b == cas1, (cas_b, cas1)  # the same causal context gives the same cas everywhere
# A cas write through c with the cas read through b succeeds; the stale cas then fails.
st, _, cas2 = req(c, SET, b"mcbin:k", struct.pack(">II", 0, 0), b"v2", cas=cas_b)
assert st == 0 and cas2 != cas1, st
st, _, _ = req(a, SET, b"mcbin:k", struct.pack(">II", 0, 0), b"v3", cas=cas1)
assert st == 0x02, "stale cas through another node must fail with 0x02, got %#x" % st
st, val, _ = req(a, GET, b"mcbin:k")
assert val == b"v2", val
# incr through every node adds up (a PN-counter, as INCR); a missing key starts at the
# initial value (1 here), as in memcached
for s in (a, b, c) * 3:
    st, val, _ = req(s, INCR, b"mcbin:n", struct.pack(">QQI", 1, 1, 0))
    assert st == 0, st
st, val, _ = req(b, GET, b"mcbin:n")
assert val == b"9", val
# the text protocol on another node reads the binary write
t = conn(ports[2])
t.sendall(b"get mcbin:k\r\n")
got = b""
while not got.endswith(b"END\r\n"):
    got += t.recv(4096)
assert b"v2" in got, got
st, _, _ = req(c, DELETE, b"mcbin:k")
assert st == 0, st
st, _, _ = req(a, GET, b"mcbin:k")
assert st == 0x01, st
print("memcached binary across 3 nodes ok")
EOF
log "memcached binary across nodes: ok"

for p in "${STARTED_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || fail "a server died during the test"; done
log "all transaction client tests passed"
