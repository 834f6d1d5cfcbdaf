# tests/integration/cluster_clients_join.py: redis-py's RedisCluster across a join (run by
# cluster_api_test.cc). It builds its slot map, writes keys, prints READY and waits for a line
# on stdin (the test starts a fourth node meanwhile), then rewrites and reads every key with
# the map it has: every command succeeds. Prints how many keys it routes to the new node
# (0 with redis-py 4.3: it fetched its map on a connection it did not keep, so no MOVED).
# Usage: cluster_clients_join.py <new node's port> <port> ...
import sys

from redis.cluster import ClusterNode, RedisCluster

new_port = int(sys.argv[1])
ports = [int(p) for p in sys.argv[2:]]
rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", ports[0])], decode_responses=True,
                  socket_timeout=10)
keys = [f"pyj:{i}" for i in range(600)]
for k in keys:
    assert rc.set(k, "before") is True, k
print("READY", flush=True)
sys.stdin.readline()
for k in keys:
    assert rc.set(k, "after") is True, k
for k in keys:
    assert rc.get(k) == "after", k
routed = sum(1 for k in keys if rc.get_node_from_key(k).port == new_port)
print("ROUTED %d" % routed, flush=True)
