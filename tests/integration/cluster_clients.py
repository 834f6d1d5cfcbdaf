# tests/integration/cluster_clients.py: redis-py's RedisCluster against a dynakv cluster with
# cluster.redis_cluster_api on (run by cluster_api_test.cc with /usr/bin/python3, Debian's
# python3-redis). Usage: cluster_clients.py <redis port> ...  (every node's port)
import sys

import redis
from redis.cluster import ClusterNode, RedisCluster

ports = [int(p) for p in sys.argv[1:]]
assert ports, "usage: cluster_clients.py <port> ..."
nodes = [ClusterNode("127.0.0.1", p) for p in ports]
rc = RedisCluster(startup_nodes=nodes[:1], decode_responses=True, socket_timeout=10)

# The map it built names every node, by its client port, and covers every slot.
assert {n.port for n in rc.get_nodes()} == set(ports), rc.get_nodes()
assert rc.get_primaries(), "no primaries"
for slot in (0, 5000, 16383):
    assert rc.nodes_manager.get_node_from_slot(slot) is not None, slot

keys = [f"pyc:{i}" for i in range(300)]
slots = {rc.keyslot(k) for k in keys}
assert len(slots) > 250, len(slots)
for k in keys:
    assert rc.set(k, k + "=v") is True, k
for k in keys:
    assert rc.get(k) == k + "=v", k
assert rc.get("pyc:missing") is None
# MGET/MSET across slots: split per slot by the client.
assert rc.mget_nonatomic(keys) == [k + "=v" for k in keys]
assert rc.mset_nonatomic({f"pym:{i}": str(i) for i in range(100)}) is not None
assert rc.mget_nonatomic([f"pym:{i}" for i in range(100)]) == [str(i) for i in range(100)]
# A real MGET needs one slot: a hash tag.
assert rc.mset({"{pyt}a": "1", "{pyt}b": "2"}) is True
assert rc.mget("{pyt}a", "{pyt}b", "{pyt}c") == ["1", "2", None]
# A pipeline spread over the slots.
p = rc.pipeline()
for i in range(60):
    p.incr(f"pyc:ctr:{i}")
assert p.execute() == [1] * 60
assert rc.delete(keys[0]) == 1
assert rc.get(keys[0]) is None
# Reads from the replicas (READONLY on their connections).
ro = RedisCluster(startup_nodes=nodes, decode_responses=True, socket_timeout=10,
                  read_from_replicas=True)
for k in keys[1:80]:
    assert ro.get(k) == k + "=v", k
info = rc.cluster_info()
assert info["cluster_state"] == "ok", info
assert int(info["cluster_known_nodes"]) == len(ports), info
assert rc.cluster_keyslot("somekey") == 11058
print("redis-py RedisCluster ok (redis-py %s, %d slots used)" % (redis.__version__, len(slots)))
