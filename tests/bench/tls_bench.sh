#!/usr/bin/env bash
# Benchmark: the cost of TLS. One dynakv node (sync=batch, LMDB) with a plain and a TLS RESP
# port (tls.auth_clients = true), and a redis-server with --tls-port for reference, in the
# same run. `redis-benchmark -t set -P 16` runs against each port `rounds` times, alternating;
# the server's CPU time (utime+stime from /proc/<pid>/stat) per request and ops/s are
# reported as medians. Not a test: numbers depend on the machine.
#
#   bash tests/bench/tls_bench.sh [requests] [rounds] [clients]   (defaults: 500000, 3, 50)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-500000}
ROUNDS=${2:-3}
CLIENTS=${3:-50}
BIN=./build/dynakv-server
[ -x "$BIN" ] || { echo "build dynakv-server first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/dynakv-tlsbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
  for _ in $(seq 1 100); do
    (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 did not open" >&2
  return 1
}

C=$WORK/certs
mkdir -p "$C"
(
  cd "$C"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext.cnf
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt -subj /CN=bench-ca -days 1
  for n in server client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout $n.key -out $n.csr -subj /CN=$n
    openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $n.crt -days 1 -extfile ext.cnf
  done
) >"$WORK/openssl.log" 2>&1

DPORT=$(free_port) DTLS=$(free_port) RPORT=$(free_port) RTLS=$(free_port)
cat >"$WORK/dkv.toml" <<EOF
[node]
data_dir = "$WORK/dkv"
[listen]
redis = "127.0.0.1:$DPORT"
[tls]
port = $DTLS
cert_file = "$C/server.crt"
key_file = "$C/server.key"
ca_cert_file = "$C/ca.crt"
EOF
"$BIN" --config "$WORK/dkv.toml" 2>"$WORK/dkv.log" &
DPID=$!
pids+=($DPID)
mkdir -p "$WORK/redis"
redis-server --port "$RPORT" --tls-port "$RTLS" --tls-cert-file "$C/server.crt" --tls-key-file "$C/server.key" \
  --tls-ca-cert-file "$C/ca.crt" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes --appendfsync everysec \
  --save "" --daemonize no --logfile "$WORK/redis.log" &
RPID=$!
pids+=($RPID)
for p in $DPORT $DTLS $RPORT $RTLS; do wait_port "$p"; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TLS_ARGS=(--tls --cacert "$C/ca.crt" --cert "$C/client.crt" --key "$C/client.key")
# run <label> <pid> <port> [tls args]: appends "ops/s us/request" to $WORK/<label>
run() {
  local label=$1 pid=$2 port=$3 before after ops
  shift 3
  before=$(cpu_ticks "$pid")
  ops=$(redis-benchmark -h 127.0.0.1 -p "$port" "$@" -t set -P 16 -c "$CLIENTS" -n "$N" -r 100000 --csv -q |
    awk -F'"' '/SET/ {print $4}')
  after=$(cpu_ticks "$pid")
  echo "$ops $(awk -v t=$((after - before)) -v n="$N" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.3f", t / hz * 1e6 / n}')" >>"$WORK/$label"
}
for _ in $(seq 1 "$ROUNDS"); do
  run dkv_plain $DPID $DPORT
  run dkv_tls $DPID $DTLS "${TLS_ARGS[@]}"
  run redis_plain $RPID $RPORT
  run redis_tls $RPID $RTLS "${TLS_ARGS[@]}"
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "SET -P 16, $CLIENTS clients, $N requests x $ROUNDS rounds (medians; server CPU per request from /proc/<pid>/stat)"
printf '%-12s %12s %16s\n' server ops/s "CPU us/request"
for l in dkv_plain dkv_tls redis_plain redis_tls; do
  printf '%-12s %12s %16s\n' "$l" "$(cut -d' ' -f1 "$WORK/$l" | median)" "$(cut -d' ' -f2 "$WORK/$l" | median)"
done
