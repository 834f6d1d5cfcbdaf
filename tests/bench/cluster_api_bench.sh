#!/usr/bin/env bash
# Benchmark: a local dynakv cluster (N=3 R=2 W=2, sync=batch, cluster.redis_cluster_api on)
# through one entry point (plain redis-benchmark against node 1: that node coordinates or
# forwards every request) next to redis-benchmark --cluster (each request sent to the slot's
# first owner, from the CLUSTER NODES map), in the same run, for each cluster size given.
# Not a test: numbers depend on the machine (and on what else runs on it).
#
#   bash tests/bench/cluster_api_bench.sh [requests] [sizes...]   (defaults: 100000, 3 5)
#
# Every run: redis-benchmark -t set,get -n <requests> -c 50 -r 100000 -q. Each size runs the
# two modes twice, alternating (single, cluster, single, cluster); both figures are printed.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-100000}
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(3 5)
BIN=./build/dynakv-server
[ -x "$BIN" ] || { echo "build dynakv-server first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/dynakv-clbench.XXXXXX)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_cluster() {  # size -> sets PORTS
  local k=$1 i j
  PORTS=(); local cports=()
  for ((i = 0; i < k; i++)); do PORTS+=("$(free_port)"); cports+=("$(free_port)"); done
  for ((i = 0; i < k; i++)); do
    local seeds=""
    for ((j = 0; j < k; j++)); do
      [ "$j" -eq "$i" ] && continue
      seeds+="${seeds:+, }\"127.0.0.1:${cports[$j]}\""
    done
    mkdir -p "$WORK/c$k/n$i"
    cat > "$WORK/c$k/n$i.toml" <<TOML
[node]
id = "n$((i + 1))"
data_dir = "$WORK/c$k/n$i"
[listen]
redis = "127.0.0.1:${PORTS[$i]}"
cluster = "127.0.0.1:${cports[$i]}"
[cluster]
seeds = [$seeds]
redis_cluster_api = true
[replication]
n = 3
r = 2
w = 2
[storage]
engine = "lmdb"
sync = "batch"
TOML
    "$BIN" --config "$WORK/c$k/n$i.toml" 2>"$WORK/c$k/n$i.log" &
    pids+=($!)
  done
  for _ in $(seq 1 150); do
    local up=0
    for p in "${PORTS[@]}"; do
      local n
      n=$(timeout 2 redis-cli -p "$p" dynamo members 2>/dev/null | grep -c '^up$' || true)
      [ "$n" = "$k" ] && up=$((up + 1))
    done
    [ "$up" = "$k" ] && return 0
    sleep 0.2
  done
  echo "the $k-node cluster did not converge" >&2
  return 1
}

rb() {  # mode(single|cluster) port -> "set get" ops/s
  local extra=()
  [ "$1" = cluster ] && extra=(--cluster)
  local out
  out=$(timeout 600 redis-benchmark "${extra[@]}" -h 127.0.0.1 -p "$2" -t set,get -n "$N" -c 50 -r 100000 -q 2>&1 | tr '\r' '\n')
  local s g
  s=$(printf '%s\n' "$out" | grep -E '^ ?SET: [0-9.]+ requests per second' | tail -1 | sed -E 's/^ ?SET: ([0-9.]+).*/\1/')
  g=$(printf '%s\n' "$out" | grep -E '^ ?GET: [0-9.]+ requests per second' | tail -1 | sed -E 's/^ ?GET: ([0-9.]+).*/\1/')
  if printf '%s\n' "$out" | grep -qi 'error'; then echo "redis-benchmark reported errors: $out" >&2; return 1; fi
  echo "${s:-?} ${g:-?}"
}

slots_size() {  # port -> "rows bytes ms" of one CLUSTER SLOTS reply
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t = time.time()
s.sendall(b"*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n")
buf = b""
head = None
while True:
    buf += s.recv(1 << 20)
    # The reply ends when a PING sent after it is answered.
    if head is None:
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        head = True
    if buf.endswith(b"+PONG\r\n"):
        break
ms = (time.time() - t) * 1000
body = buf[: -len(b"+PONG\r\n")]
print(body.split(b"\r\n", 1)[0][1:].decode(), len(body), "%.0f" % ms)
PY
}

SLOTINFO=()
echo "| nodes | client | SET ops/s (run 1, run 2) | GET ops/s (run 1, run 2) |"
echo "| --- | --- | --- | --- |"
for k in "${SIZES[@]}"; do
  start_cluster "$k"
  SLOTINFO+=("$k nodes: CLUSTER SLOTS $(slots_size "${PORTS[0]}" | awk '{print $1 " rows, " $2 " bytes, " $3 " ms"}')")
  declare -A res=()
  for round in 1 2; do
    for mode in single cluster; do
      res[$mode$round]=$(rb "$mode" "${PORTS[0]}")
    done
  done
  for mode in single cluster; do
    read -r s1 g1 <<<"${res[${mode}1]}"
    read -r s2 g2 <<<"${res[${mode}2]}"
    label="plain redis-benchmark, one entry point"
    [ "$mode" = cluster ] && label="redis-benchmark --cluster"
    echo "| $k | $label | $s1, $s2 | $g1, $g2 |"
  done
  unset res
  stop_all
done
printf '%s\n' "${SLOTINFO[@]}"
