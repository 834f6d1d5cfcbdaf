#!/usr/bin/env bash
# Quick start (1): install dependencies, build, and run a local 3-node cluster (N=3, R=2, W=2)
# in the foreground. RESP on 6379-6381, memcached on 11211-11213, cluster on 7379-7381.
# Ctrl-C stops all three nodes cleanly (SIGTERM: in-flight requests answered, LMDB closed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
mkdir -p data
pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping cluster..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  exit 0
}
trap stop INT TERM EXIT
for i in 1 2 3; do
  ./build/dynakv-server --config "conf/cluster/n$i.toml" &
  pids+=($!)
done
echo "dynakv: 3-node cluster up; try: redis-cli -p 6379 set hello world; redis-cli -p 6380 get hello"
wait -n "${pids[@]}" || true
echo "a node exited; stopping the rest"
stop
