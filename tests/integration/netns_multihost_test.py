#!/usr/bin/python3
# tests/integration/netns_multihost_test.py: a multi-host run. Three dynakv-server processes,
# each in its own network namespace with its own address (10.201.0.1/2/3 on a bridge,
# netns_lib.py), configured with those addresses (listen.redis, listen.cluster,
# listen.advertise_redis, cluster.seeds) and cluster.redis_cluster_api on; the clients run in
# a fourth namespace and reach the nodes only by those addresses. Checks that nothing assumes
# loopback:
#   - DYNAMO MEMBERS on every node lists the three real cluster and client addresses;
#   - CLUSTER SLOTS / NODES advertise them, and redis-py's RedisCluster (which connects to what
#     the map says) writes and reads through them;
#   - a write through one node is on the other replicas (DGET R 1 through each of DYNAMO
#     PREFLIST);
#   - after a third node joins, `redis-cli -c` (connected to n1, holding the old map) follows
#     the MOVED to n3's advertised address and is served there.
# Usage: netns_multihost_test.py <dynakv-server>. Exit 77 (skip) without root / namespaces.
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import netns_lib as nl  # noqa: E402

nl.PREFIX = "netns-multihost"
try:
    import redis
    from redis.cluster import RedisCluster
except ImportError:
    nl.skip("python3-redis is not installed (run under /usr/bin/python3)")

SUBNET = "10.201.0"


def cmd(net, i, *args):
    def f():
        r = redis.Redis(host=net.addr(i), port=6379, socket_timeout=5, socket_connect_timeout=2)
        try:
            return r.execute_command(*args)
        finally:
            r.close()
    return nl.run_in_ns(net.client_ns, f)


class Cli:
    """redis-cli -c in line mode inside the client namespace, its output collected by a thread."""

    def __init__(self, net, host):
        self.p = subprocess.Popen(["ip", "netns", "exec", net.client_ns, "redis-cli", "-c", "-h", host, "-p", "6379"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        net.procs.append((self.p.pid, self.p, "redis-cli", os.devnull))
        self.out = b""
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            b = self.p.stdout.read1(4096)
            if not b:
                return
            with self.lock:
                self.out += b

    def line(self, text):
        self.p.stdin.write(text.encode() + b"\n")
        self.p.stdin.flush()

    def wait_for(self, needle, secs):
        return nl.wait_until(lambda: needle.encode() in self.out, secs, 0.05, "redis-cli output %r" % needle)


def main():
    server = os.path.abspath(sys.argv[1])
    nl.check_prereqs()
    net = nl.Net(3, subnet=SUBNET)
    ids = ["n1", "n2", "n3"]
    try:
        def start(i, seeds):
            conf = nl.node_config(net.tmp, ids[i], net.addr(i), seeds)
            # cluster-aware clients: answer CLUSTER SLOTS, send MOVED after a ring change to
            # every RESP connection (redis-cli -c connects without fetching a map)
            text = open(conf).read().replace("[cluster]\n", "[cluster]\nredis_cluster_api = true\n"
                                             "redis_cluster_moved = \"all\"\n", 1)
            open(conf, "w").write(text)
            net.start(net.ns[i], [server, "--config", conf], ids[i])

        def members_ok(count):
            net.check_alive()
            for i in range(count):
                ms = cmd(net, i, "DYNAMO", "MEMBERS")
                if len(ms) != count or any(m[3] != b"up" for m in ms):
                    return False
            return True

        start(0, [net.addr(1)])
        start(1, [net.addr(0)])
        nl.wait_until(lambda: members_ok(2), 30, 0.2, "n1 and n2 up")
        cli = Cli(net, net.addr(0))
        cli.line("PING")
        cli.wait_for("PONG", 10)
        before = {}
        for first, last, owners in cmd(net, 0, "DYNAMO", "RING"):
            for s in range(first, last + 1):
                before[s] = owners[0].decode()

        start(2, [net.addr(0), net.addr(1)])
        nl.wait_until(lambda: members_ok(3), 30, 0.2, "n1, n2 and n3 up")
        nl.log("3 nodes up at %s" % ", ".join(net.addr(i) for i in range(3)))

        # DYNAMO MEMBERS: [id, cluster address, client address, status, weight] on every node
        want = {ids[i]: ("%s:7379" % net.addr(i), "%s:6379" % net.addr(i)) for i in range(3)}
        for i in range(3):
            got = {m[0].decode(): (m[1].decode(), m[2].decode()) for m in cmd(net, i, "DYNAMO", "MEMBERS")}
            assert got == want, "DYNAMO MEMBERS on %s: %r, want %r" % (ids[i], got, want)
        nl.log("DYNAMO MEMBERS on every node: %r" % want)

        # A key whose slot n1 owned first before n3 joined and n3 owns first now.
        after = {}
        for first, last, owners in cmd(net, 0, "DYNAMO", "RING"):
            for s in range(first, last + 1):
                after[s] = owners[0].decode()
        moved = None
        for k in range(400):
            key = "mv:%d" % k
            slot = int(cmd(net, 0, "CLUSTER", "KEYSLOT", key))
            if before.get(slot) == "n1" and after.get(slot) == "n3":
                moved = (key, slot)
                break
        assert moved, "no key in 400 moved from n1 to n3"
        key, slot = moved
        cli.line("SET %s via-cli" % key)
        cli.wait_for("OK", 10)
        redirect = "-> Redirected to slot [%d] located at %s:6379" % (slot, net.addr(2))
        assert redirect.encode() in cli.out, "redis-cli -c output: %r, want %r" % (cli.out, redirect)
        nl.log("redis-cli -c: %s" % redirect)
        assert cmd(net, 2, "GET", key) == b"via-cli"

        # CLUSTER NODES advertises the real addresses
        nodes_txt = cmd(net, 1, "CLUSTER", "NODES").decode()
        for i in range(3):
            assert "%s:6379@7379" % net.addr(i) in nodes_txt or "%s:6379" % net.addr(i) in nodes_txt, nodes_txt
        assert "127.0.0.1" not in nodes_txt, nodes_txt

        # redis-py RedisCluster from the client namespace: it connects where the map points.
        def cluster_client():
            rc = RedisCluster(host=net.addr(1), port=6379, socket_timeout=5)
            try:
                hosts = sorted({n.host for n in rc.get_nodes()})
                for k in range(50):
                    rc.set("rc:%d" % k, "v%d" % k)
                vals = [rc.get("rc:%d" % k) for k in range(50)]
                return hosts, vals
            finally:
                rc.close()
        hosts, vals = nl.run_in_ns(net.client_ns, cluster_client)
        assert hosts == [net.addr(i) for i in range(3)], "RedisCluster nodes: %r" % hosts
        assert vals == [("v%d" % k).encode() for k in range(50)], vals
        nl.log("RedisCluster: nodes %r, 50 SET/GET" % hosts)

        # Writes replicate: a DPUT through n1 is in each replica's own copy (R=1 through it).
        keys = ["rep:%d" % k for k in range(20)]
        for k in keys:
            cmd(net, 0, "DPUT", k, "x-" + k, "", "W", "3")
        for k in keys:
            for owner in cmd(net, 0, "DYNAMO", "PREFLIST", k):
                i = ids.index(owner.decode())
                _, sibs = cmd(net, i, "DGET", k, "R", "1")
                assert sibs == [("x-" + k).encode()], "%s on %s: %r" % (k, owner, sibs)
        nl.log("20 writes through n1 read back from each replica's own copy")
        nl.log("PASS")
        return 0
    except BaseException:
        net.tails()
        raise
    finally:
        net.close()


if __name__ == "__main__":
    sys.exit(main())
