#!/usr/bin/env bash
# tests/integration/tls_test.sh: TLS ([tls], server/tls.h) against real dynakv-server processes.
#   1. Start-up refuses bad [tls] settings (missing, garbage or mismatched certificate/key,
#      no CA with auth_clients) with a configuration error and exit code 2, never a crash.
#   2. One node with tls.port and tls.memcache_port, tls.auth_clients = true:
#      redis-cli --tls PING/SET/GET (and the plain port sees the same data), redis-py with
#      ssl=True (pipeline, a 1 MB value), PING+QUIT on a raw ssl socket, memcached set/get
#      (and a binary-protocol version request) over a Python ssl socket and `openssl s_client`;
#      refused: no client certificate, a certificate from another CA,
#      plain text and garbage on the TLS port, each closing only that connection (an open
#      TLS client keeps working, the node logs why).
#   3. tls.auth_clients = false: no client certificate is fine, one from another CA is not.
#   4. A 3-node cluster with tls.cluster = true replicates a write (read back through the
#      other nodes, N=3 R=2 W=2); plain bytes on its cluster port are refused; a 4th node whose
#      certificate comes from another CA cannot join.
# Certificates (a CA, another CA, server, client and node certificates) are made with the
# openssl CLI at test time in <cert dir> (under the build dir).
# Usage: tls_test.sh <dynakv-server binary> <cert dir>
# Free ports, temp data dirs; servers are stopped by PID on exit (lib.sh). Every wait is bounded.
set -euo pipefail

SERVER_BIN=${1:?usage: tls_test.sh <dynakv-server> <cert dir>}
CERTS=$(realpath -m "${2:?usage: tls_test.sh <dynakv-server> <cert dir>}")
HERE=$(cd "$(dirname "$0")" && pwd)
LOG_PREFIX=tls_test
source "$HERE/lib.sh"

[[ -x "$SERVER_BIN" ]] || fail "server binary $SERVER_BIN not found"
for tool in openssl redis-cli; do
  command -v "$tool" >/dev/null || fail "$tool not installed (apt-get install openssl redis-tools)"
done
$PY -c 'import redis' 2>/dev/null || fail "/usr/bin/python3 cannot import redis (apt-get install python3-redis)"

# ---- certificates --------------------------------------------------------------------------
rm -rf "$CERTS"
mkdir -p "$CERTS"
(
  cd "$CERTS"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext.cnf
  for ca in ca other-ca; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout $ca.key -out $ca.crt -subj "/CN=dynakv test $ca" -days 2
  done
  mk() {  # mk <name> <ca>
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1"
    openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" -days 2 -extfile ext.cnf
  }
  mk server ca
  mk client ca
  mk badclient other-ca
  mk badnode other-ca
  printf 'garbage\n' >garbage.pem
) >"$TMP/openssl.log" 2>&1 || { cat "$TMP/openssl.log" >&2; fail "openssl could not make the test certificates"; }
C=$CERTS
log "certificates in $C"

TLS_CFG() {  # TLS_CFG <port> <memcache port> <auth_clients> [cert] [key] [ca]
  printf '[tls]\nport = %s\nmemcache_port = %s\nauth_clients = %s\ncert_file = "%s"\nkey_file = "%s"\nca_cert_file = "%s"\n' \
    "$1" "$2" "$3" "${4:-$C/server.crt}" "${5:-$C/server.key}" "${6-$C/ca.crt}"
}

# ---- 1. bad settings stop start-up with a clear error --------------------------------------
bad_start() {  # bad_start <expected text> <extra TOML>
  local port rc=0
  port=$(free_port)
  printf '[node]\ndata_dir = "%s"\n[listen]\nredis = "127.0.0.1:%s"\n%s' "$TMP/bad" "$port" "$2" >"$TMP/bad.toml"
  timeout 10 "$SERVER_BIN" --config "$TMP/bad.toml" >"$TMP/bad.out" 2>"$TMP/bad.err" || rc=$?
  [[ $rc == 2 ]] || fail "bad TLS config ($1): exit code $rc, want 2: $(cat "$TMP/bad.err")"
  grep -qF "configuration error: $TMP/bad.toml: $1" "$TMP/bad.err" ||
    fail "bad TLS config: want '$1' in: $(cat "$TMP/bad.err")"
}
P=$(free_port)
bad_start "tls.cert_file: cannot read '$C/missing.crt': No such file or directory" "$(TLS_CFG "$P" 0 true "$C/missing.crt")"
bad_start "tls.key_file: cannot read '$C/missing.key'" "$(TLS_CFG "$P" 0 true "$C/server.crt" "$C/missing.key")"
bad_start "tls.cert_file: '$C/garbage.pem' holds no usable PEM certificate" "$(TLS_CFG "$P" 0 true "$C/garbage.pem")"
bad_start "tls.key_file: '$C/garbage.pem' holds no usable PEM private key" "$(TLS_CFG "$P" 0 true "$C/server.crt" "$C/garbage.pem")"
bad_start "tls.key_file: the private key in '$C/client.key' does not match the certificate in tls.cert_file" \
  "$(TLS_CFG "$P" 0 true "$C/server.crt" "$C/client.key")"
bad_start "tls.ca_cert_file: must be set with tls.auth_clients = true" "$(TLS_CFG "$P" 0 true "$C/server.crt" "$C/server.key" "")"
bad_start "tls.cluster: needs listen.cluster" $'[tls]\ncluster = true\n'"cert_file = \"$C/server.crt\""
log "bad [tls] settings: configuration errors, exit code 2"

# ---- 2. one node, client certificates required ---------------------------------------------
TPORT=$(free_port)
TMPORT=$(free_port)
start_dynakv tls1 --memcache "$(TLS_CFG "$TPORT" "$TMPORT" true)"
PORT=$DKV_PORT
PID1=$DKV_PID
CLI_TLS=(redis-cli --tls --cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key" -h 127.0.0.1 -p "$TPORT")
[[ "$(timeout 10 "${CLI_TLS[@]}" PING)" == "PONG" ]] || fail "redis-cli --tls PING"
[[ "$(timeout 10 "${CLI_TLS[@]}" SET tkey "over tls")" == "OK" ]] || fail "redis-cli --tls SET"
[[ "$(timeout 10 "${CLI_TLS[@]}" GET tkey)" == "over tls" ]] || fail "redis-cli --tls GET"
[[ "$(timeout 10 redis-cli -p "$PORT" GET tkey)" == "over tls" ]] || fail "the plain port does not see the TLS write"
if timeout 10 redis-cli -p "$TPORT" PING >"$TMP/plain.out" 2>&1 && grep -q PONG "$TMP/plain.out"; then
  fail "a plain redis-cli got PONG from the TLS port"
fi
log "redis-cli --tls: PING/SET/GET ok; the plain port shares the data; plain RESP on the TLS port refused"

# redis-py with ssl=True. A client connected first must keep working while others are refused.
cat >"$TMP/redispy.py" <<'EOF'
import socket, ssl, sys, time
import redis
port, plain_port, c = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def conn(**kw):
    args = dict(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=c + "/ca.crt",
                ssl_cert_reqs="required", socket_timeout=5)
    args.update(kw)
    return redis.Redis(**args)
good = conn(ssl_certfile=c + "/client.crt", ssl_keyfile=c + "/client.key")
assert good.ping() is True
assert good.set("py:k", "v1") is True and good.get("py:k") == b"v1"
big = b"x" * (1 << 20) + b"end"  # many TLS records each way
good.set("py:big", big)
assert good.get("py:big") == big, "1 MB value differs"
p = good.pipeline(transaction=False)
for i in range(1000):
    p.set("py:p%d" % i, str(i))
for i in range(1000):
    p.get("py:p%d" % i)
res = p.execute()
assert res[:1000] == [True] * 1000 and res[1000:] == [str(i).encode() for i in range(1000)], "pipeline"
print("redis-py ssl=True: ping, set/get, 1 MB value, 2000-command pipeline ok")

def refused(what, **kw):
    try:
        r = conn(**kw)
        r.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ssl.SSLError, OSError) as e:
        print("refused as it should be: %s (%s)" % (what, type(e).__name__))
        return
    sys.exit("FAIL: %s was accepted" % what)
refused("no client certificate")
refused("a client certificate from another CA",
        ssl_certfile=c + "/badclient.crt", ssl_keyfile=c + "/badclient.key")
# The client must also refuse a server certificate that is not from its CA.
refused("a server certificate from another CA (client side check)", ssl_ca_certs=c + "/other-ca.crt",
        ssl_certfile=c + "/client.crt", ssl_keyfile=c + "/client.key")

def raw(payload):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(payload)
    got = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except socket.timeout:
        sys.exit("FAIL: the TLS port kept a connection open after %r" % payload[:20])
    s.close()
    return got
for payload in (b"PING\r\n", b"*1\r\n$4\r\nPING\r\n", b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\xff" * 3,
                bytes(range(256)) * 8):
    got = raw(payload)
    assert b"PONG" not in got, got
print("plain text and garbage: connection closed")
# The first client is unaffected; so is the plain port.
assert good.get("py:k") == b"v1" and good.ping() is True
assert redis.Redis(host="127.0.0.1", port=plain_port).get("py:k") == b"v1"
print("the established TLS client and the plain port still work")
# QUIT over TLS: +OK, then the server closes the connection.
ctx = ssl.create_default_context(cafile=c + "/ca.crt")
ctx.load_cert_chain(c + "/client.crt", c + "/client.key")
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1") as s:
    s.sendall(b"PING\r\nQUIT\r\n")
    got = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        got += d
    assert got == b"+PONG\r\n+OK\r\n", got
print("PING + QUIT over a raw TLS socket: +PONG +OK, then closed")
EOF
timeout 90 $PY "$TMP/redispy.py" "$TPORT" "$PORT" "$C" >&2 || fail "redis-py over TLS"
kill -0 "$PID1" 2>/dev/null || fail "the node died"
grep -q "TLS client 127.0.0.1:[0-9]* closed: handshake failed" "$TMP/tls1.stderr.log" ||
  fail "no log line for the refused TLS connections"

# redis-cli without a certificate and with one from another CA.
if timeout 10 redis-cli --tls --cacert "$C/ca.crt" -p "$TPORT" PING 2>&1 | grep -q PONG; then
  fail "redis-cli --tls without a client certificate got PONG (auth_clients = true)"
fi
if timeout 10 redis-cli --tls --cacert "$C/ca.crt" --cert "$C/badclient.crt" --key "$C/badclient.key" \
  -p "$TPORT" PING 2>&1 | grep -q PONG; then
  fail "redis-cli --tls with another CA's certificate got PONG"
fi
log "redis-cli: no certificate / another CA's certificate refused"

# memcached over TLS: a Python ssl socket, then openssl s_client.
cat >"$TMP/mc.py" <<'EOF'
import socket, ssl, sys
port, c = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=c + "/ca.crt")
ctx.load_cert_chain(c + "/client.crt", c + "/client.key")
with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        def ask(req, end):
            s.sendall(req)
            got = b""
            while not got.endswith(end):
                d = s.recv(65536)
                assert d, "connection closed after %r (got %r)" % (req, got)
                got += d
            return got
        assert ask(b"set mk 5 0 9\r\nmemcached\r\n", b"\r\n") == b"STORED\r\n"
        assert ask(b"get mk\r\n", b"END\r\n") == b"VALUE mk 5 9\r\nmemcached\r\nEND\r\n"
        val = b"y" * 200000
        assert ask(b"set big 0 0 %d\r\n" % len(val) + val + b"\r\n", b"\r\n") == b"STORED\r\n"
        assert ask(b"get big\r\n", b"END\r\n") == b"VALUE big 0 %d\r\n" % len(val) + val + b"\r\nEND\r\n"
        print("memcached over TLS (python ssl): set/get ok, 200 KB value ok")
# The binary protocol too (a connection whose first byte is 0x80): a version request.
with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(bytes([0x80, 0x0b]) + bytes(22))
        hdr = b""
        while len(hdr) < 24:
            d = s.recv(24 - len(hdr))
            assert d, "closed after a binary version request"
            hdr += d
        assert hdr[0] == 0x81 and hdr[1] == 0x0b and hdr[6:8] == b"\x00\x00", hdr
        body_len = int.from_bytes(hdr[8:12], "big")
        body = b""
        while len(body) < body_len:
            body += s.recv(body_len - len(body))
        assert body and body[0:1].isdigit(), body
        print("memcached binary protocol over TLS: version ok")
EOF
timeout 30 $PY "$TMP/mc.py" "$TMPORT" "$C" >&2 || fail "memcached over TLS (python)"
got=$( (printf 'get mk\r\n'; sleep 1) | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$TMPORT" \
  -CAfile "$C/ca.crt" -cert "$C/client.crt" -key "$C/client.key" -verify_return_error 2>/dev/null | tr -d '\r' || true)
[[ "$got" == $'VALUE mk 5 9\nmemcached\nEND' ]] || fail "openssl s_client memcached get: '$got'"
[[ "$(timeout 10 redis-cli -p "$PORT" GET mk)" == "memcached" ]] || fail "memcached TLS write not seen on RESP"
log "memcached over TLS: python ssl and openssl s_client set/get ok"
kill -0 "$PID1" 2>/dev/null || fail "the node died"
stop_pid "$PID1"

# ---- 3. auth_clients = false: certificates optional, but checked when sent -----------------
TPORT=$(free_port)
start_dynakv tls2 "$(TLS_CFG "$TPORT" 0 false)"
[[ "$(timeout 10 redis-cli --tls --cacert "$C/ca.crt" -p "$TPORT" PING)" == "PONG" ]] ||
  fail "auth_clients = false: no client certificate should be fine"
if timeout 10 redis-cli --tls --cacert "$C/ca.crt" --cert "$C/badclient.crt" --key "$C/badclient.key" \
  -p "$TPORT" PING 2>&1 | grep -q PONG; then
  fail "auth_clients = false: another CA's certificate was accepted"
fi
log "auth_clients = false: no certificate ok, another CA's certificate refused"
stop_pid "$DKV_PID"

# ---- 4. a 3-node cluster over TLS ----------------------------------------------------------
RPORTS=() CPORTS=()
for i in 0 1 2 3; do RPORTS+=("$(free_port)"); CPORTS+=("$(free_port)"); done
SEEDS="\"127.0.0.1:${CPORTS[0]}\", \"127.0.0.1:${CPORTS[1]}\", \"127.0.0.1:${CPORTS[2]}\""
NODE_PIDS=()
start_node() {  # start_node <i> <cert> <key> <ca>
  local i=$1
  cat >"$TMP/c$i.toml" <<EOF
[node]
id = "tls$i"
data_dir = "$TMP/cdata$i"
[listen]
redis = "127.0.0.1:${RPORTS[$i]}"
cluster = "127.0.0.1:${CPORTS[$i]}"
[replication]
n = 3
r = 2
w = 2
[cluster]
seeds = [$SEEDS]
gossip_interval_ms = 100
[tls]
cluster = true
cert_file = "$2"
key_file = "$3"
ca_cert_file = "$4"
EOF
  "$SERVER_BIN" --config "$TMP/c$i.toml" >"$TMP/c$i.out" 2>"$TMP/c$i.log" &
  NODE_PIDS[$i]=$!
  track_pid $! "$TMP/c$i.log"
}
for i in 0 1 2; do start_node $i "$C/server.crt" "$C/server.key" "$C/ca.crt"; done
members_up() { timeout 2 redis-cli -p "$1" dynamo members 2>/dev/null | grep -c '^up$' || true; }
ok=0
for _ in $(seq 1 200); do
  ok=1
  for i in 0 1 2; do
    kill -0 "${NODE_PIDS[$i]}" 2>/dev/null || fail "cluster node $i exited"
    [[ "$(members_up "${RPORTS[$i]}")" == "3" ]] || ok=0
  done
  [[ $ok == 1 ]] && break
  sleep 0.1
done
[[ $ok == 1 ]] || fail "the TLS cluster did not converge (3 members up on every node) within 20 s"
[[ "$(timeout 10 redis-cli -p "${RPORTS[0]}" SET ck "replicated over tls")" == "OK" ]] || fail "cluster SET (W=2)"
for i in 1 2; do
  [[ "$(timeout 10 redis-cli -p "${RPORTS[$i]}" GET ck)" == "replicated over tls" ]] || fail "GET through node $i"
done
# R=3: all three replicas answer over their TLS links.
got=$(timeout 10 redis-cli -p "${RPORTS[2]}" DGET ck R 3) || fail "DGET R 3"
grep -q "replicated over tls" <<<"$got" || fail "DGET ck R 3 through node 2: $got"
log "TLS cluster: 3 members up, a write through node 0 read back through nodes 1 and 2 (and with R=3)"
# A big value (8 MB: the frames that go as the stored bytes, and arrive decoded off the loop)
# crosses the TLS links whole, and reads back through the other nodes.
$PY - "${RPORTS[0]}" "${RPORTS[1]}" "${RPORTS[2]}" <<'EOF' || fail "an 8 MB value over the TLS cluster"
import sys, redis
ports = [int(p) for p in sys.argv[1:]]
v = bytes(range(256)) * (8 * 4096)
assert redis.Redis(port=ports[0], socket_timeout=30).set("bigtls", v)
for p in ports[1:]:
    got = redis.Redis(port=p, socket_timeout=30).get("bigtls")
    assert got == v, "node on port %d: %s" % (p, "nil" if got is None else "%d bytes" % len(got))
EOF
log "TLS cluster: an 8 MB value written through node 0 read back whole through nodes 1 and 2"
# Plain bytes on a TLS cluster port: closed, logged, the node unaffected.
$PY - "${CPORTS[1]}" <<'EOF' || fail "plain bytes on the TLS cluster port were not refused"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"\x00\x00\x00\x10" + b"plain frame!!!!!" + bytes(range(256)))
got = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    got += d
EOF
grep -q "on the cluster port refused" "$TMP/c1.log" || fail "node 1 did not log the refused cluster connection"
# A node whose certificate comes from another CA (and which trusts only that CA) cannot join.
start_node 3 "$C/badnode.crt" "$C/badnode.key" "$C/other-ca.crt"
wait_ping "${RPORTS[3]}" 10 "${NODE_PIDS[3]}" "node 3"
sleep 3  # ~15 gossip rounds and several reconnects
m=$(timeout 5 redis-cli -p "${RPORTS[3]}" dynamo members)
grep -q '^tls3$' <<<"$m" || fail "node 3 does not list itself: $m"
grep -q '^tls[012]$' <<<"$m" && fail "the wrong-CA node learned of other members: $m"
for i in 0 1 2; do
  m=$(timeout 5 redis-cli -p "${RPORTS[$i]}" dynamo members)
  grep -q tls3 <<<"$m" && fail "node $i lists the wrong-CA node: $m"
  [[ "$(grep -c '^up$' <<<"$m")" == "3" ]] || fail "node $i lost members: $m"
done
grep -q "TLS link to peer .* failed" "$TMP/c3.log" || fail "the wrong-CA node did not log its failed TLS links"
grep -q "on the cluster port refused" "$TMP/c0.log" || fail "node 0 did not log the refused wrong-CA node"
[[ "$(timeout 10 redis-cli -p "${RPORTS[2]}" GET ck)" == "replicated over tls" ]] || fail "cluster GET after the refused join"
log "TLS cluster: plain bytes on the cluster port and a wrong-CA node refused (logged); the cluster unaffected"
log "PASS"
