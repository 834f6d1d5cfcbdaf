#!/usr/bin/env bash
# tests/integration/memcache_binary_test.sh: the memcached BINARY protocol on dynakv's
# memcached port, against a real memcached and a real binary client.
#   1. The same binary sessions (memcache_binary_transcript.py: every opcode, quiet forms,
#      cas, limits and malformed requests) give identical responses from `memcached -U 0`
#      and dynakv (cas values and the version string normalised).
#   2. memjs (npm, the binary-only Node client; installed into the node cache dir under the
#      build dir, as clients_test.sh does): set/get/add/replace/delete/incr/decr/append/
#      prepend/touch/flush/version/stats, a cas conflict and a quiet getkq batch + noop
#      through memjs's own request encoder, and text <-> binary on the same keys.
#   3. Binary `stat` reports the same statistics, with the same values, as text `stats`.
#   4. With security.requirepass: commands before SASL get 0x20 (version/noop/SASL do not),
#      SASL list mechs says PLAIN, a wrong password is refused, the right one admits; memjs
#      with the right password works and with a wrong one fails.
# Usage: memcache_binary_test.sh <dynakv-server binary> <node client cache dir>
# Free ports, temp data dirs; every server is started here and killed by PID on exit (trap).
# Every wait is bounded.
set -euo pipefail

SERVER_BIN=${1:?usage: memcache_binary_test.sh <dynakv-server> <node cache dir>}
NODE_DIR=${2:?usage: memcache_binary_test.sh <dynakv-server> <node cache dir>}
HERE=$(cd "$(dirname "$0")" && pwd)
LOG_PREFIX=memcache_binary_test
source "$HERE/lib.sh"

[[ -x "$SERVER_BIN" ]] || fail "server binary $SERVER_BIN not found"
command -v memcached >/dev/null || fail "memcached not installed (apt-get install memcached)"
command -v node >/dev/null || fail "node not installed"
command -v npm >/dev/null || fail "npm not installed"

# ---- npm: memjs ------------------------------------------------------------------------------
# One installer at a time (a lock in the folder, shared with clients_test.sh); the folder is a cache.
bash "$HERE/npm_install.sh" "$NODE_DIR" memjs@1 || fail "npm install memjs@1 failed"

start_dynakv mcb1 --memcache
SERVER_PID=$DKV_PID
MPORT=$DKV_MC_PORT
start_memcached
REAL_PORT=$MEMCACHED_PORT

# ---- 1. the same binary sessions against memcached and dynakv -------------------------------
timeout 120 $PY "$HERE/memcache_binary_transcript.py" "$REAL_PORT" >"$TMP/memcached.out" ||
  fail "binary transcript against memcached failed"
timeout 120 $PY "$HERE/memcache_binary_transcript.py" "$MPORT" >"$TMP/dynakv.out" ||
  { cat "$TMP/dynakv.out" >&2; fail "binary transcript against dynakv failed"; }
if ! diff -a -u "$TMP/memcached.out" "$TMP/dynakv.out" >"$TMP/diff.txt"; then
  cat "$TMP/diff.txt" >&2
  fail "dynakv's binary responses differ from memcached's (diff above: - memcached, + dynakv)"
fi
log "binary transcript: $(grep -c '^> ' "$TMP/dynakv.out") requests, responses identical to memcached"
stop_pid "$MEMCACHED_PID"

# ---- 2. memjs ----------------------------------------------------------------------------------
NODE_PATH="$NODE_DIR/node_modules" timeout 60 node - "$MPORT" <<'EOF' || fail "memjs against dynakv"
const memjs = require('memjs');
const port = Number(process.argv[2]);
function assert(cond, msg) { if (!cond) throw new Error('assertion failed: ' + msg); }
const quiet = { log: () => {} };
(async () => {
  const mc = memjs.Client.create(`127.0.0.1:${port}`, { retries: 1, timeout: 2, logger: quiet });
  assert(await mc.set('mj:a', 'hello', { expires: 0 }), 'set');
  const got = await mc.get('mj:a');
  assert(got.value.toString() === 'hello', 'get value');
  assert(got.flags.readUInt32BE(0) === 0, 'get flags');
  assert((await mc.get('mj:missing')).value === null, 'get missing');
  assert((await mc.add('mj:a', 'x')) === false, 'add existing');
  assert((await mc.add('mj:b', 'bee')) === true, 'add new');
  assert((await mc.replace('mj:nope', 'x')) === false, 'replace missing');
  assert((await mc.replace('mj:b', 'BEE')) === true, 'replace existing');
  assert((await mc.get('mj:b')).value.toString() === 'BEE', 'replaced value');
  assert((await mc.delete('mj:b')) === true, 'delete');
  assert((await mc.delete('mj:b')) === false, 'delete missing');
  let r = await mc.increment('mj:n', 5, { initial: 10 });
  assert(r.success && r.value === 10, 'incr on a miss creates the initial value: ' + JSON.stringify(r));
  r = await mc.increment('mj:n', 5, {});
  assert(r.value === 15, 'incr: ' + r.value);
  r = await mc.decrement('mj:n', 20, {});
  assert(r.value === 0, 'decr stops at 0: ' + r.value);
  assert(await mc.append('mj:a', ' world'), 'append');
  // memjs 1.3's prepend() sends the APPEND opcode (0x0e), so it appends, on memcached too;
  // the real prepend (0x0f) is sent through memjs's encoder below.
  assert(await mc.prepend('mj:a', '!'), 'memjs prepend');
  const ap = (await mc.get('mj:a')).value.toString();
  assert(ap === 'hello world!', 'append value: ' + ap);
  // append to a missing key: status 0x05 (as memcached), which memjs reports as an error
  let notStored = '';
  try { await mc.append('mj:nope', 'x'); } catch (e) { notStored = String(e.message); }
  assert(/Item not stored/.test(notStored), 'append missing: ' + notStored);
  assert((await mc.touch('mj:a', 100)) === true, 'touch');
  assert((await mc.touch('mj:nope', 100)) === false, 'touch missing');
  const st = await new Promise((res, rej) => mc.stats((e, srv, s) => e ? rej(e) : res(s)));
  assert(Number(st.cmd_set) >= 5 && Number(st.get_hits) >= 3 && st.pid, 'stats: ' + JSON.stringify(st));

  // cas conflict and quiet gets through memjs's own request encoder and response parser.
  const serv = mc.servers[0];
  let seq = 1000;
  const perform = (buf) => new Promise((res, rej) => {
    const s = ++seq;
    buf.writeUInt32BE(s, 12);
    serv.onResponse(s, res);
    serv.onError(s, rej);
    serv.write(buf);
  });
  const U = memjs.Utils;
  const extras = Buffer.from('0000000000000000', 'hex');
  await mc.set('mj:c', 'v1');
  const g1 = await perform(U.makeRequestBuffer(0x00, 'mj:c', '', '', 0));
  const cas = g1.header.cas;
  assert(Buffer.isBuffer(cas) && !cas.equals(Buffer.alloc(8)), 'get returns a cas');
  const withCas = (buf, c) => { c.copy(buf, 16); return buf; };
  const s1 = await perform(withCas(U.makeRequestBuffer(0x01, 'mj:c', extras, 'v2', 0), cas));
  assert(s1.header.status === 0, 'set with the current cas: status ' + s1.header.status);
  const s2 = await perform(withCas(U.makeRequestBuffer(0x01, 'mj:c', extras, 'v3', 0), cas));
  assert(s2.header.status === 2, 'set with a stale cas: status ' + s2.header.status + ' (want 2, exists)');
  assert((await mc.get('mj:c')).value.toString() === 'v2', 'the conflicting set did not land');
  const ver = await perform(U.makeRequestBuffer(0x0b, '', '', '', 0));  // memjs has no version()
  assert(ver.header.status === 0 && /^1\.6\./.test(ver.val.toString()), 'version: ' + ver.val);
  const pp = await perform(U.makeRequestBuffer(0x0f, 'mj:a', '', '>> ', 0));
  assert(pp.header.status === 0, 'prepend (0x0f): status ' + pp.header.status);
  const ap2 = (await mc.get('mj:a')).value.toString();
  assert(ap2 === '>> hello world!', 'prepend value: ' + ap2);

  // getkq x3 (one miss) + noop in one write: two hits, then the noop, nothing for the miss.
  await mc.set('mj:q1', 'one');
  await mc.set('mj:q2', 'two');
  const got2 = [];
  const base = ++seq;
  seq += 4;
  const reqs = [];
  ['mj:q1', 'mj:qmiss', 'mj:q2'].forEach((k, i) => {
    const b = U.makeRequestBuffer(0x0d, k, '', '', base + i);
    const h = (resp) => got2.push([resp.key.toString(), resp.val.toString(), resp.header.status]);
    h.quiet = true;
    serv.onResponse(base + i, h);
    reqs.push(b);
  });
  const noop = new Promise((res, rej) => { serv.onResponse(base + 3, res); serv.onError(base + 3, rej); });
  reqs.push(U.makeRequestBuffer(0x0a, '', '', '', base + 3));
  serv.write(Buffer.concat(reqs));
  await noop;
  assert(JSON.stringify(got2) === JSON.stringify([['mj:q1', 'one', 0], ['mj:q2', 'two', 0]]),
         'quiet gets: ' + JSON.stringify(got2));
  for (let i = 0; i < 3; i++) { delete serv.responseCallbacks[base + i]; }

  const fl = await mc.flush();
  assert(Object.values(fl).every((x) => x === true), 'flush: ' + JSON.stringify(fl));
  assert((await mc.get('mj:a')).value === null, 'flushed');
  await mc.set('mj:xp', 'from-binary');
  mc.close();
  console.log('memjs ok');
})().catch((e) => { console.error(e); process.exit(1); });
EOF
log "memjs: set/get/add/replace/delete/incr/decr/append/prepend/touch/version/stats/cas/getkq/flush ok"

# ---- text <-> binary on the same keys, and binary stat == text stats --------------------------
$PY - "$MPORT" <<'EOF' || fail "text/binary cross-check or stat comparison"
import socket, struct, sys
port = int(sys.argv[1])
HDR = ">BBHBBHIIQ"
def breq(op, key=b"", extras=b"", value=b"", opaque=0):
    return struct.pack(HDR, 0x80, op, len(key), len(extras), 0, 0, len(key) + len(extras) + len(value), opaque, 0) + extras + key + value
def recv_exact(s, n):
    out = b""
    while len(out) < n:
        c = s.recv(n - len(out))
        assert c, "closed"
        out += c
    return out
def bresp(s):
    h = struct.unpack(HDR, recv_exact(s, 24))
    body = recv_exact(s, h[6])
    return h, body[:h[3]], body[h[3]:h[3] + h[2]], body[h[3] + h[2]:]  # header extras key value
def text(s, cmd, end):
    s.sendall(cmd)
    out = b""
    while not out.endswith(end):
        c = s.recv(65536)
        assert c, "closed"
        out += c
    return out
b = socket.create_connection(("127.0.0.1", port), timeout=5)
t = socket.create_connection(("127.0.0.1", port), timeout=5)
# written by memjs (binary) -> read by text
got = text(t, b"get mj:xp\r\n", b"END\r\n")
assert got == b"VALUE mj:xp 0 11\r\nfrom-binary\r\nEND\r\n", got
# written by text (flags 77) -> read by binary get, with the same cas as text gets
text(t, b"set xp:txt 77 0 4\r\nTEXT\r\n", b"\r\n")
b.sendall(breq(0x00, b"xp:txt"))
h, x, _, v = bresp(b)
assert h[5] == 0 and v == b"TEXT" and struct.unpack(">I", x)[0] == 77, (h, x, v)
gets = text(t, b"gets xp:txt\r\n", b"END\r\n").split(b"\r\n")[0].split()
assert int(gets[4]) == h[8], ("text gets cas", gets, "binary cas", h[8])
# a text cas with the binary cas succeeds
assert text(t, b"cas xp:txt 0 0 2 %d\r\nOK\r\n" % h[8], b"\r\n") == b"STORED\r\n"
# binary stat: the same names, in the same order, as text stats; stable counters equal
b.sendall(breq(0x10))
bstats = []
while True:
    h, _, k, v = bresp(b)
    assert h[5] == 0, h
    if not k:
        break
    bstats.append((k.decode(), v.decode()))
lines = text(t, b"stats\r\n", b"END\r\n").decode().split("\r\n")
tstats = [tuple(l.split(" ", 2)[1:]) for l in lines if l.startswith("STAT ")]
assert [n for n, _ in bstats] == [n for n, _ in tstats], ("names differ", bstats, tstats)
stable = ["version", "pointer_size", "max_connections", "cmd_get", "cmd_set", "get_hits", "get_misses",
          "delete_hits", "delete_misses", "incr_hits", "decr_hits", "cas_hits", "cas_badval",
          "touch_hits", "touch_misses", "total_items", "curr_items", "evictions"]
bd, td = dict(bstats), dict(tstats)
for n in stable:
    assert bd[n] == td[n], (n, bd[n], td[n])
assert int(bd["cmd_set"]) >= 10 and int(bd["cas_hits"]) >= 2, bd
print("cross-protocol and stat ok")
EOF
log "text <-> binary on the same keys (value, flags, cas) and binary stat == text stats: ok"
stop_pid "$SERVER_PID"

# ---- 4. SASL PLAIN with security.requirepass -------------------------------------------------
start_dynakv mcb2 --memcache $'[security]\nrequirepass = "s3cret"'
SERVER_PID=$DKV_PID
MPORT=$DKV_MC_PORT
$PY - "$MPORT" <<'EOF' || fail "SASL gating"
import socket, struct, sys
port = int(sys.argv[1])
HDR = ">BBHBBHIIQ"
def breq(op, key=b"", extras=b"", value=b"", opaque=0):
    return struct.pack(HDR, 0x80, op, len(key), len(extras), 0, 0, len(key) + len(extras) + len(value), opaque, 0) + extras + key + value
def recv_exact(s, n):
    out = b""
    while len(out) < n:
        c = s.recv(n - len(out))
        assert c, "closed"
        out += c
    return out
def call(s, data):
    s.sendall(data)
    h = struct.unpack(HDR, recv_exact(s, 24))
    body = recv_exact(s, h[6])
    return h[5], body
s = socket.create_connection(("127.0.0.1", port), timeout=5)
assert call(s, breq(0x00, b"k")) == (0x20, b"Auth failure."), "get before auth"
assert call(s, breq(0x01, b"k", struct.pack(">II", 0, 0), b"v")) == (0x20, b"Auth failure."), "set before auth"
assert call(s, breq(0x10)) == (0x20, b"Auth failure."), "stat before auth"
st, v = call(s, breq(0x0b))
assert st == 0 and v.startswith(b"1.6."), ("version before auth", st, v)
assert call(s, breq(0x0a)) == (0, b""), "noop before auth"
assert call(s, breq(0x20)) == (0, b"PLAIN"), "list mechs"
assert call(s, breq(0x21, b"PLAIN", b"", b"\0user\0wrong")) == (0x20, b"Auth failure."), "wrong password"
assert call(s, breq(0x21, b"CRAM-MD5", b"", b"\0user\0s3cret")) == (0x20, b"Auth failure."), "other mechanism"
assert call(s, breq(0x00, b"k")) == (0x20, b"Auth failure."), "still refused"
assert call(s, breq(0x21, b"PLAIN", b"", b"\0user\0s3cret")) == (0, b"Authenticated"), "right password"
assert call(s, breq(0x00, b"k")) == (0x01, b"Not found"), "get after auth"
assert call(s, breq(0x01, b"k", struct.pack(">II", 0, 0), b"v"))[0] == 0, "set after auth"
# another connection is not authenticated by the first
s2 = socket.create_connection(("127.0.0.1", port), timeout=5)
assert call(s2, breq(0x00, b"k")) == (0x20, b"Auth failure."), "second connection"
print("sasl ok")
EOF
log "SASL: commands before auth refused (0x20), version/noop/list mechs allowed, PLAIN wrong/right ok"

NODE_PATH="$NODE_DIR/node_modules" timeout 60 node - "$MPORT" <<'EOF' || fail "memjs with SASL"
const memjs = require('memjs');
const port = Number(process.argv[2]);
function assert(cond, msg) { if (!cond) throw new Error('assertion failed: ' + msg); }
const quiet = { log: () => {} };
(async () => {
  const good = memjs.Client.create(`app:s3cret@127.0.0.1:${port}`, { retries: 1, timeout: 2, logger: quiet });
  assert(await good.set('sasl:k', 'authed'), 'set with the right password');
  assert((await good.get('sasl:k')).value.toString() === 'authed', 'get with the right password');
  good.close();
  const bad = memjs.Client.create(`app:wrong@127.0.0.1:${port}`, { retries: 1, timeout: 2, logger: quiet });
  let failed = false;
  let why = 'no error';
  try { await bad.get('sasl:k'); } catch (e) { why = String((e && e.message) || e); failed = /authentication failed/.test(why); }
  assert(failed, 'a wrong password must fail with an authentication error, got: ' + why);
  bad.close();
  console.log('memjs sasl ok');
})().catch((e) => { console.error(e); process.exit(1); });
EOF
log "memjs with SASL: right password works, wrong password refused"

kill -0 "$SERVER_PID" 2>/dev/null || fail "dynakv-server died during the test"
log "PASS"
