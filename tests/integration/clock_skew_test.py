#!/usr/bin/python3
# tests/integration/clock_skew_test.py: clock skew with real processes. A 3-node cluster on
# 127.0.0.1 (N=3 R=2 W=2) where n1's wall clock runs 3 hours ahead and n2's 3 hours behind
# (debug.clock_offset_ms, honoured only with debug.enable_debug_command). Checks:
#   - the setting is refused without debug.enable_debug_command, and TIME shows the skew;
#   - a later write supersedes an earlier one whatever the clocks (SET through the +3h node,
#     then SET through the -3h node: GET is the second value on every node, one sibling);
#   - a delete through the -3h node of a value written through the +3h node stays deleted on
#     every node, after anti-entropy (DYNAMO SYNC) and after a restart of every node;
#   - truly concurrent writes (DPUT with the empty context through n3 and through n1) are both
#     kept as siblings; plain GET returns the newest timestamp (n1's, 3 h ahead), as the README
#     documents; DPUT with the context merges them;
#   - cart adds (DGET/union/DPUT) and INCRs through all three nodes: no acknowledged item lost,
#     none invented, every counter exact;
#   - with n3 (true clock) stopped, deletes through the -3h node and SETs through the +3h node
#     reach n3's own copy after it restarts (hinted handoff, anti-entropy);
#   - all of it again after a restart of every node.
# Usage: clock_skew_test.py <dynakv-server>.
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import shutil
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import netns_lib as nl  # noqa: E402

nl.PREFIX = "clock-skew"
import redis  # noqa: E402

H3 = 3 * 3600 * 1000
OFFSETS = [H3, -H3, 0]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Cluster:
    def __init__(self, server):
        self.server = server
        self.tmp = tempfile.mkdtemp(prefix="dynakv-clock-skew-")
        self.rp = [free_port() for _ in range(3)]
        self.cp = [free_port() for _ in range(3)]
        self.procs = [None, None, None]
        self.ids = ["n1", "n2", "n3"]

    def conf(self, i):
        seeds = ["127.0.0.1:%d" % self.cp[j] for j in range(3) if j != i]
        extra = "[debug]\nenable_debug_command = true\nclock_offset_ms = %d\n" % OFFSETS[i]
        return nl.node_config(self.tmp, self.ids[i], "127.0.0.1", seeds, extra=extra,
                              redis_port=self.rp[i], cluster_port=self.cp[i])

    def start(self, i):
        conf = self.conf(i)
        err = open(os.path.join(self.tmp, self.ids[i] + ".stderr.log"), "ab")
        self.procs[i] = subprocess.Popen([self.server, "--config", conf], stdout=subprocess.DEVNULL,
                                         stderr=err, stdin=subprocess.DEVNULL)
        err.close()

    def stop(self, i):
        p = self.procs[i]
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs[i] = None

    def c(self, i):
        return redis.Redis(host="127.0.0.1", port=self.rp[i], socket_timeout=5, socket_connect_timeout=2)

    def up(self):
        for i, p in enumerate(self.procs):
            if p is None or p.poll() is not None:
                raise AssertionError("%s is not running" % self.ids[i])
        for i in range(3):
            ms = self.c(i).execute_command("DYNAMO", "MEMBERS")
            if len(ms) != 3 or any(m[3] != b"up" for m in ms):
                return False
        return True

    def tails(self):
        for n in self.ids:
            try:
                with open(os.path.join(self.tmp, n + ".stderr.log"), errors="replace") as f:
                    print("---- %s (tail) ----\n%s" % (n, "".join(f.readlines()[-20:])), file=sys.stderr)
            except OSError:
                pass

    def close(self):
        for i in range(3):
            self.stop(i)
        shutil.rmtree(self.tmp, ignore_errors=True)


def replicas(cl, key):
    """Each node's own copy (R=1 answers from the local record first): sorted siblings."""
    return [sorted(cl.c(i).execute_command("DGET", key, "R", "1")[1]) for i in range(3)]


def main():
    server = os.path.abspath(sys.argv[1])
    # Refused without the debug flag, naming both keys.
    tmp = tempfile.mkdtemp(prefix="dynakv-clock-skew-bad-")
    try:
        bad = os.path.join(tmp, "bad.toml")
        with open(bad, "w") as f:
            f.write('[node]\nid = "x"\ndata_dir = "%s/d"\n[listen]\nredis = "127.0.0.1:%d"\n'
                    '[debug]\nclock_offset_ms = 1000\n' % (tmp, free_port()))
        r = subprocess.run([server, "--config", bad], capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and "debug.clock_offset_ms" in r.stderr and \
            "debug.enable_debug_command" in r.stderr, (r.returncode, r.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    cl = Cluster(server)
    try:
        for i in range(3):
            cl.start(i)
        nl.wait_until(cl.up, 30, 0.2, "3 nodes up")
        now = time.time()
        for i in range(3):
            secs = int(cl.c(i).execute_command("TIME")[0])
            want = now + OFFSETS[i] / 1000
            assert abs(secs - want) < 60, "%s TIME %d, want ~%d" % (cl.ids[i], secs, want)
        nl.log("3 nodes up; TIME: n1 +3h, n2 -3h, n3 true")

        # A later write wins whatever the clocks.
        for k in range(20):
            key = "seq:%d" % k
            first, second = (0, 1) if k % 2 == 0 else (1, 0)  # +3h then -3h, and the reverse
            cl.c(first).set(key, "first")
            # "later": every replica has the first write before the second is sent (else the
            # two are concurrent, and GET's winner is the newer timestamp; see below)
            nl.wait_until(lambda: replicas(cl, key) == [[b"first"]] * 3, 10, 0.02, key + " replicated")
            cl.c(second).set(key, "second")
        nl.wait_until(lambda: all(r == [[b"second"]] * 3 for r in
                                  (replicas(cl, "seq:%d" % k) for k in range(20))), 15, 0.2,
                      "every replica holds only the later SET")
        for k in range(20):
            for i in range(3):
                got = cl.c(i).get("seq:%d" % k)
                assert got == b"second", "seq:%d via %s: %r" % (k, cl.ids[i], got)
        nl.log("20 keys: SET then SET through the other skewed node: the later one everywhere")

        # Deletes through the slow node of values from the fast node stay deleted.
        dels = ["del:%d" % k for k in range(20)]
        for k in dels:
            cl.c(0).set(k, "doomed")
        for k in dels:
            nl.wait_until(lambda: replicas(cl, k) == [[b"doomed"]] * 3, 10, 0.02, k + " replicated")
            assert cl.c(1).delete(k) == 1, k
        for i in range(3):
            cl.c(i).execute_command("DYNAMO", "SYNC")
        time.sleep(1.5)
        for k in dels:
            for i in range(3):
                assert cl.c(i).get(k) is None, "%s resurrected via %s" % (k, cl.ids[i])
                assert cl.c(i).execute_command("DGET", k)[1] == [], k

        # Concurrent writes: siblings; GET shows the newest timestamp (n1's +3h clock).
        conc = ["conc:%d" % k for k in range(10)]
        for k in conc:
            cl.c(2).execute_command("DPUT", k, "from-n3", "")
            cl.c(0).execute_command("DPUT", k, "from-n1", "")
        for k in conc:
            ctx, sibs = nl.wait_until(lambda: (lambda r: r if len(r[1]) == 2 else None)(
                cl.c(2).execute_command("DGET", k, "R", "3")), 10, 0.1, "two siblings of " + k)
            assert sorted(sibs) == [b"from-n1", b"from-n3"], sibs
            for i in range(3):
                assert cl.c(i).get(k) == b"from-n1", "GET %s via %s: the +3h sibling wins" % (k, cl.ids[i])
            cl.c(1).execute_command("DPUT", k, "merged", ctx)
            for i in range(3):
                assert cl.c(i).execute_command("DGET", k, "R", "3")[1] == [b"merged"], k
        nl.log("10 keys: concurrent DPUTs kept as siblings, GET = newest timestamp (+3h), DPUT merges")

        # Cart adds and INCRs through all three nodes.
        rng = random.Random(7)
        carts = ["cart:%d" % k for k in range(5)]
        acked = {k: set() for k in carts}
        ctrs = {"ctr:%d" % k: 0 for k in range(3)}
        for n in range(600):
            node = cl.c(rng.randrange(3))
            if n % 3 == 2:
                key = rng.choice(sorted(ctrs))
                node.incr(key)
                ctrs[key] += 1
                continue
            key = rng.choice(carts)
            ctx, sibs = node.execute_command("DGET", key)
            items = set()
            for s in sibs:
                items.update(x for x in s.decode().split(",") if x)
            item = "i%d" % n
            items.add(item)
            node.execute_command("DPUT", key, ",".join(sorted(items)), ctx)
            acked[key].add(item)
        nl.log("600 operations (cart adds and INCRs) through random nodes")

        # n3 (true clock) down: deletes through the slow node and overwrites through the fast
        # one reach it by hinted handoff / anti-entropy after it returns.
        cl.stop(2)
        down_del = ["seq:%d" % k for k in range(10)]
        down_set = ["seq:%d" % k for k in range(10, 20)]
        for k in down_del:
            assert cl.c(1).delete(k) == 1, k
        for k in down_set:
            cl.c(0).set(k, "while-n3-down")
        cl.start(2)
        nl.wait_until(cl.up, 30, 0.2, "n3 back")
        nl.wait_until(lambda: all(replicas(cl, k)[2] == [] for k in down_del) and
                      all(replicas(cl, k)[2] == [b"while-n3-down"] for k in down_set), 20, 0.2,
                      "n3's own copies caught up")
        nl.log("n3 down: 10 deletes (-3h node) and 10 SETs (+3h node) reached it after restart")

        # Restart every node (one at a time), sync, and check everything again.
        for i in range(3):
            cl.stop(i)
            cl.start(i)
            nl.wait_until(cl.up, 30, 0.2, "%s back" % cl.ids[i])
        for i in range(3):
            cl.c(i).execute_command("DYNAMO", "SYNC")
        all_keys = dels + carts + sorted(ctrs) + ["seq:%d" % k for k in range(20)] + conc

        def converged():
            for i in range(3):
                cl.c(i).execute_command("DYNAMO", "SYNC")
            return all(len({tuple(x) for x in replicas(cl, k)}) == 1 for k in all_keys)
        nl.wait_until(converged, 30, 0.5, "replicas converged after the restarts")
        checked = 0
        for i in range(3):
            c = cl.c(i)
            for k in dels:
                assert c.get(k) is None and c.execute_command("DGET", k)[1] == [], "%s back via %s" % (k, cl.ids[i])
            for k in carts:
                have = set()
                for s in c.execute_command("DGET", k)[1]:
                    have.update(x for x in s.decode().split(",") if x)
                assert acked[k] <= have, "%s lost %s" % (k, sorted(acked[k] - have))
                assert have <= acked[k], "%s phantom %s" % (k, sorted(have - acked[k]))
                checked += len(acked[k])
            for k in down_del:
                assert c.get(k) is None, "%s back via %s" % (k, cl.ids[i])
            for k in down_set:
                assert c.get(k) == b"while-n3-down", "%s via %s: %r" % (k, cl.ids[i], c.get(k))
            for k, v in ctrs.items():
                assert int(c.get(k)) == v, "%s via %s: %r, want %d" % (k, cl.ids[i], c.get(k), v)
        nl.log("after restarts: 20 deletes stay deleted, %d cart items and %d counters exact on "
               "every node" % (checked // 3, len(ctrs)))
        nl.log("PASS")
        return 0
    except BaseException:
        cl.tails()
        raise
    finally:
        cl.close()


if __name__ == "__main__":
    sys.exit(main())
