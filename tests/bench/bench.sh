#!/usr/bin/env bash
# Benchmark: dynakv (one node, sync=batch, LMDB) against redis-server (appendonly yes,
# appendfsync everysec) and memcached, in the same run, on this machine. Prints ops/s and the
# ratio dynakv/reference for each workload. Not a test: numbers depend on the machine.
#
#   bash tests/bench/bench.sh [requests] [rounds]   (defaults: 200000 per redis-benchmark run, 3)
#
# Each redis-benchmark workload runs `rounds` times, alternating Redis and dynakv, and the
# medians are compared (this machine's numbers move 10-20% run to run; the min-max range of
# each side is printed too). memcaslap runs once per server.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-200000}
ROUNDS=${2:-3}
BIN=./build/dynakv-server
[ -x "$BIN" ] || bash scripts/build.sh
WORK=$(mktemp -d /tmp/dynakv-bench.XXXXXX)
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
    (echo > /dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 did not open" >&2
  return 1
}

RPORT=$(free_port); DPORT=$(free_port); MPORT=$(free_port); DMPORT=$(free_port)
mkdir -p "$WORK/redis" "$WORK/dkv"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$WORK/redis" --appendonly yes \
  --appendfsync everysec --save "" --daemonize no --logfile "$WORK/redis.log" &
pids+=($!)
cat > "$WORK/dkv.toml" <<TOML
[node]
id = "bench"
data_dir = "$WORK/dkv"
[listen]
redis = "127.0.0.1:$DPORT"
memcache = "127.0.0.1:$DMPORT"
cluster = ""
[storage]
engine = "lmdb"
sync = "batch"
TOML
"$BIN" --config "$WORK/dkv.toml" 2>"$WORK/dkv.log" &
pids+=($!)
MCUSER=(); [ "$(id -u)" -eq 0 ] && MCUSER=(-u nobody)  # memcached refuses to run as root
memcached -p "$MPORT" -U 0 -l 127.0.0.1 -m 1024 "${MCUSER[@]}" &
pids+=($!)
wait_port "$RPORT"; wait_port "$DPORT"; wait_port "$MPORT"; wait_port "$DMPORT"

rb() {  # port pipeline test -> ops/s
  redis-benchmark -h 127.0.0.1 -p "$1" -t "$3" -c 50 -d 100 -r 100000 -n "$N" -P "$2" -q 2>/dev/null |
    tr '\r' '\n' | grep -E "^$(echo "$3" | tr a-z A-Z):" | tail -1 | awk '{print $2}'
}

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0fk-%.0fk", lo / 1000, hi / 1000 }'; }

printf "%-22s %14s %14s %8s   %s\n" "workload" "redis ops/s" "dynakv ops/s" "ratio" "range redis / dynakv ($ROUNDS rounds, medians shown)"
status=0
for P in 1 16; do
  for T in set get; do
    rs=""; ds=""
    for _ in $(seq 1 "$ROUNDS"); do
      rs="$rs $(rb "$RPORT" "$P" "$T")"
      ds="$ds $(rb "$DPORT" "$P" "$T")"
    done
    r=$(echo "$rs" | median); d=$(echo "$ds" | median)
    ratio=$(awk -v a="$d" -v b="$r" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    printf "%-22s %14s %14s %8s   %s / %s\n" "$T -c50 -d100 -P$P" "$r" "$d" "$ratio" "$(echo "$rs" | range)" "$(echo "$ds" | range)"
  done
done

if command -v memcaslap >/dev/null 2>&1; then
  mcs() {  # port -> TPS (memcaslap's default mix: 90% get, 10% set)
    timeout 60 memcaslap -s "127.0.0.1:$1" -t 10s -c 50 -T 1 -X 100 2>/dev/null |
      awk '/^Run time/ { for (i = 1; i <= NF; i++) if ($i == "TPS:") print $(i + 1) }'
  }
  m=$(mcs "$MPORT")
  dm=$(mcs "$DMPORT")
  ratio=$(awk -v a="$dm" -v b="$m" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  printf "%-22s %14s %14s %8s\n" "memcaslap 10s c50" "$m" "$dm" "$ratio"
fi
exit $status
