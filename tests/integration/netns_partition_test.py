#!/usr/bin/python3
# tests/integration/netns_partition_test.py: real network partitions between 5 dynakv-server
# processes (N=3 R=2 W=2), each in its own network namespace on a bridge (netns_lib.py).
#
# Under cart-add load (DGET, union of the siblings + one new item, DPUT with the context) and
# INCR load, it cuts the network four ways, one after the other, healing in between:
#   split     symmetric partition {n1 n2} | {n3 n4 n5} (the two sides on different bridges);
#   isolated  n3's link down: n3 still coordinates for a client in its own namespace;
#   oneway    n2 drops (nftables) everything from the other nodes; what it sends arrives;
#   flap      n4's link down/up 6 times (0.6 s each).
# and checks:
#   - writes stay available through the sloppy quorum: majority-side writes keep succeeding
#     once the failure detector has marked the cut nodes down;
#   - a minority side answers as configured: {n1 n2} acknowledge W=2 (two live nodes make a
#     sloppy quorum), read R=2 a key both replicate but answer -UNAVAILABLE for one only one of
#     them replicates (reads use the preference list, not stand-ins), and refuse W=3 and R=3
#     with -UNAVAILABLE; an isolated n3
#     acknowledges W=1 and never a W=2 write; nothing is acknowledged with fewer than W nodes
#     reachable;
#   - after healing (hinted handoff, DYNAMO SYNC, bounded wait) every replica's local copy
#     (DGET R 1 through each node of DYNAMO PREFLIST) holds the same siblings;
#   - no acknowledged cart item is lost, no item appears that no client sent (phantom), and each
#     counter lies between acknowledged and acknowledged + indeterminate (errors, timeouts).
# Usage: netns_partition_test.py <dynakv-server>. Exit 77 (skip) without root / namespaces.
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import netns_lib as nl  # noqa: E402

nl.PREFIX = "netns-partition"
try:
    import redis
except ImportError:
    nl.skip("python3-redis is not installed (run under /usr/bin/python3)")

NODES = 5
CART_KEYS = ["cart:%d" % i for i in range(8)]
CTR_KEYS = ["ctr:%d" % i for i in range(4)]
TRANSIENT = ("UNAVAILABLE",)


class Ledger:
    """What the clients were told, shared by the worker threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {k: set() for k in CART_KEYS}
        self.sent = {k: set() for k in CART_KEYS}  # acked or indeterminate
        self.ctr_acked = {k: 0 for k in CTR_KEYS}
        self.ctr_indet = {k: 0 for k in CTR_KEYS}
        self.ops = {"cart_ok": 0, "cart_fail": 0, "incr_ok": 0, "incr_fail": 0, "read_fail": 0}
        self.errors = []  # unexpected error replies
        self.window = []  # (time, worker tag, ok) of every write attempt
        self.rwindow = []  # (time, worker tag) of every failed DGET


def classify(e):
    if isinstance(e, redis.exceptions.ResponseError):
        msg = str(e)
        if msg.startswith(TRANSIENT):
            return "unavailable"
        return "error: " + msg
    return "timeout"  # connection refused/reset/timeout: the request may have been applied


def worker(tag, target, ledger, stop, rng_seed, w=None):
    """Runs in a namespace; `target` is a node address. Alternates cart adds and INCRs."""
    rng = random.Random(rng_seed)
    r = redis.Redis(host=target, port=6379, socket_timeout=3, socket_connect_timeout=1)
    seq = 0
    while not stop.is_set():
        seq += 1
        if rng.random() < 0.7:
            key = rng.choice(CART_KEYS)
            try:
                ctx, sibs = r.execute_command("DGET", key)
            except Exception as e:
                with ledger.lock:
                    ledger.ops["read_fail"] += 1
                    ledger.rwindow.append((time.time(), tag))
                    c = classify(e)
                    if c.startswith("error"):
                        ledger.errors.append("%s DGET %s: %s" % (tag, key, c))
                time.sleep(0.05)
                continue
            items = set()
            for s in sibs:
                items.update(x for x in s.decode().split(",") if x)
            item = "%s-%d" % (tag, seq)
            items.add(item)
            with ledger.lock:
                ledger.sent[key].add(item)
            args = ["DPUT", key, ",".join(sorted(items)), ctx]
            if w is not None:
                args += ["W", str(w)]
            try:
                r.execute_command(*args)
                ok = True
            except Exception as e:
                ok = False
                c = classify(e)
                if c.startswith("error"):
                    with ledger.lock:
                        ledger.errors.append("%s DPUT %s: %s" % (tag, key, c))
            with ledger.lock:
                ledger.window.append((time.time(), tag, ok))
                if ok:
                    ledger.acked[key].add(item)
                    ledger.ops["cart_ok"] += 1
                else:
                    ledger.ops["cart_fail"] += 1
        else:
            key = rng.choice(CTR_KEYS)
            try:
                r.execute_command("INCR", key)
                ok = True
            except Exception as e:
                ok = False
                c = classify(e)
                if c.startswith("error"):
                    with ledger.lock:
                        ledger.errors.append("%s INCR %s: %s" % (tag, key, c))
            with ledger.lock:
                ledger.window.append((time.time(), tag, ok))
                if ok:
                    ledger.ctr_acked[key] += 1
                    ledger.ops["incr_ok"] += 1
                else:
                    ledger.ctr_indet[key] += 1
                    ledger.ops["incr_fail"] += 1
        if not ok:
            time.sleep(0.05)
        time.sleep(rng.uniform(0, 0.01))


class Load:
    """Worker threads, each in a namespace aimed at one node."""

    def __init__(self, net, ledger):
        self.net, self.ledger, self.threads = net, ledger, []
        self.stop = threading.Event()

    def add(self, ns, tag, target, seed, w=None, stop=None):
        stop = stop or self.stop

        def body():
            nl.enter_ns(ns)
            worker(tag, target, self.ledger, stop, seed, w)

        t = threading.Thread(target=body, daemon=True, name=tag)
        t.start()
        self.threads.append(t)

    def join(self, stop=None):
        self.stop.set()
        if stop is not None:
            stop.set()
        for t in self.threads:
            t.join(15)
            if t.is_alive():
                raise AssertionError("load thread %s did not stop within 15 s" % t.name)


def rate(ledger, tags, t0, t1):
    with ledger.lock:
        xs = [ok for (t, tag, ok) in ledger.window if t0 <= t < t1 and tag.startswith(tags)]
    return (sum(xs), len(xs))


def cmd(net, i, *args, timeout=3):
    def f():
        r = redis.Redis(host=net.addr(i), port=6379, socket_timeout=timeout, socket_connect_timeout=1)
        try:
            return r.execute_command(*args)
        finally:
            r.close()
    return nl.run_in_ns(net.client_ns, f)


def cmd_local(net, i, *args):
    """A command to node i from inside its own namespace (reaches it while its link is cut)."""
    def f():
        r = redis.Redis(host=net.addr(i), port=6379, socket_timeout=3, socket_connect_timeout=1)
        try:
            return r.execute_command(*args)
        except Exception as e:
            return e
        finally:
            r.close()
    return nl.run_in_ns(net.ns[i], f)


def all_up(net):
    net.check_alive()
    for i in range(NODES):
        ms = cmd(net, i, "DYNAMO", "MEMBERS")
        if len(ms) != NODES or any(m[3] != b"up" for m in ms):
            return False
    return True


def main():
    server = os.path.abspath(sys.argv[1])
    nl.check_prereqs(need_nft=True)
    net = nl.Net(NODES, subnet="10.200.0")
    failures = []

    def check(cond, msg):
        if not cond:
            failures.append(msg)
            nl.log("CHECK FAILED: " + msg)

    try:
        ids = ["n%d" % (i + 1) for i in range(NODES)]
        for i in range(NODES):
            seeds = [net.addr(j) for j in range(NODES) if j != i]
            conf = nl.node_config(net.tmp, ids[i], net.addr(i), seeds)
            net.start(net.ns[i], [server, "--config", conf], ids[i])
        nl.wait_until(lambda: all_up(net), 30, 0.2, "5 nodes up in every node's DYNAMO MEMBERS")
        nl.log("5 nodes up: %s" % ", ".join("%s=%s" % (ids[i], net.addr(i)) for i in range(NODES)))

        ledger = Ledger()
        load = Load(net, ledger)
        # Majority clients (client namespace) on n3, n4, n5; n1/n2 clients from n1's namespace
        # (the minority side of the split) and an n3-local client (the isolated coordinator).
        for k, i in enumerate([2, 3, 4, 2, 3, 4]):
            load.add(net.client_ns, "maj%d" % k, net.addr(i), 100 + k)
        load.add(net.ns[0], "min0", net.addr(0), 200)
        load.add(net.ns[0], "min1", net.addr(1), 201)
        time.sleep(2)

        settle = 3.0   # > down_after_ms + gossip: the cut nodes are marked down by then
        hold = 4.0     # measured window after settle
        phases = []

        # Probe keys for the minority {n1 n2}: `both` has n1 and n2 in its preference list,
        # `one` only one of them (reads go to the preference list; writes may use stand-ins).
        both = one = None
        for k in range(300):
            pl = {x.decode() for x in cmd(net, 2, "DYNAMO", "PREFLIST", "probe:%d" % k)}
            on_min = len(pl & {"n1", "n2"})
            if on_min == 2 and both is None:
                both = "probe:%d" % k
            if on_min == 1 and one is None:
                one = "probe:%d" % k
        check(both and one, "no probe keys found")

        # -- 1. symmetric partition {n1 n2} | {n3 n4 n5}
        nl.log("phase split: {n1 n2} | {n3 n4 n5}")
        net.split([0, 1])
        t0 = time.time()
        time.sleep(settle)
        w2 = cmd_local(net, 0, "DPUT", both, "a", "", "W", "2")
        w2one = cmd_local(net, 0, "DPUT", one, "a", "", "W", "2")
        w3 = cmd_local(net, 0, "DPUT", "probe:min3", "a", "", "W", "3")
        w3maj = cmd(net, 2, "DPUT", "probe:maj3", "a", "", "W", "3")
        r2 = cmd_local(net, 1, "DGET", both, "R", "2")
        r2one = cmd_local(net, 1, "DGET", one, "R", "2")
        r3 = cmd_local(net, 1, "DGET", both, "R", "3")
        check(isinstance(w2, bytes) and isinstance(w2one, bytes),
              "minority {n1 n2}: DPUT W 2 must succeed (sloppy quorum of 2), got %r, %r" % (w2, w2one))
        check(isinstance(r2, list) and r2[1] == [b"a"],
              "minority {n1 n2}: DGET R 2 of a key both replicate must read its write, got %r" % (r2,))
        check(isinstance(r2one, redis.exceptions.ResponseError) and str(r2one).startswith("UNAVAILABLE"),
              "minority {n1 n2}: DGET R 2 of a key only one of them replicates must answer "
              "-UNAVAILABLE (reads use the preference list only), got %r" % (r2one,))
        check(isinstance(r3, redis.exceptions.ResponseError) and str(r3).startswith("UNAVAILABLE"),
              "minority {n1 n2}: DGET R 3 must answer -UNAVAILABLE, got %r" % (r3,))
        check(isinstance(w3, redis.exceptions.ResponseError) and str(w3).startswith("UNAVAILABLE"),
              "minority {n1 n2}: DPUT W 3 must answer -UNAVAILABLE, got %r" % (w3,))
        check(isinstance(w3maj, bytes), "majority {n3 n4 n5}: DPUT W 3 must succeed, got %r" % (w3maj,))
        time.sleep(hold)
        phases.append(("split", t0 + settle, time.time(), "maj"))
        phases.append(("split-minority", t0 + settle, time.time(), "min"))
        net.heal()
        time.sleep(3)

        # -- 2. isolated coordinator n3 (link down); a client in n3's namespace keeps using it
        nl.log("phase isolated: n3's link down")
        net.link(2, False)
        t0 = time.time()
        # A client in n3's own namespace keeps loading it: none of its W=2 writes may be
        # acknowledged, but n3 stores them, so they count as indeterminate (and may surface).
        iso_stop = threading.Event()
        load.add(net.ns[2], "iso", net.addr(2), 300, stop=iso_stop)
        time.sleep(settle)
        iso_w2, iso_w1 = [], []
        for k in range(10):
            iso_w2.append(cmd_local(net, 2, "DPUT", "iso:%d" % k, "v", "", "W", "2"))
            iso_w1.append(cmd_local(net, 2, "DPUT", "iso1:%d" % k, "v", "", "W", "1"))
        check(all(isinstance(x, Exception) for x in iso_w2),
              "isolated n3 acknowledged a W=2 write alone: %r" % iso_w2)
        check(all(isinstance(x, bytes) for x in iso_w1),
              "isolated n3 must acknowledge W=1 writes: %r" % iso_w1)
        time.sleep(hold)
        iso_stop.set()
        time.sleep(1)
        phases.append(("isolated", t0 + settle, time.time(), "maj"))
        ok, n = rate(ledger, "iso", t0, time.time())
        nl.log("isolated n3's own client: %d of %d writes acknowledged (want 0)" % (ok, n))
        check(n > 0 and ok == 0, "isolated n3 acknowledged %d of %d W=2 writes" % (ok, n))
        net.heal()
        time.sleep(3)

        # -- 3. one-way: n2 drops everything from the other nodes
        nl.log("phase oneway: n2 drops packets from n1 n3 n4 n5 (nftables)")
        net.drop_from(1, [0, 2, 3, 4])
        t0 = time.time()
        time.sleep(settle)
        time.sleep(hold)
        phases.append(("oneway", t0 + settle, time.time(), "maj"))
        net.heal()
        time.sleep(3)

        # -- 4. flapping link n4
        nl.log("phase flap: n4's link down/up 6 times")
        t0 = time.time()
        for _ in range(6):
            net.link(3, False)
            time.sleep(0.6)
            net.link(3, True)
            time.sleep(0.6)
        phases.append(("flap", t0, time.time(), "maj"))
        net.heal()
        time.sleep(2)
        load.join()

        # Availability: majority-side writes through each cut (after the detector settled).
        for name, a, b, tags in phases:
            ok, n = rate(ledger, tags, a, b)
            with ledger.lock:
                rf = sum(1 for (t, tag) in ledger.rwindow if a <= t < b and tag.startswith(tags))
            nl.log("%-15s %4.1f s: writes ok %d of %d, failed reads %d" % (name, b - a, ok, n, rf))
            if tags == "maj":
                check(n > 0 and ok >= 0.8 * n if name != "flap" else ok >= 0.5 * n,
                      "%s: majority writes not available: %d of %d succeeded" % (name, ok, n))
            else:
                check(ok > 0, "%s: the minority side {n1 n2} acknowledged no write at W=2" % name)
        check(not ledger.errors, "unexpected error replies: %s" % ledger.errors[:5])

        # -- heal: hints, then anti-entropy, until every replica holds the same siblings
        nl.wait_until(lambda: all_up(net), 20, 0.2, "all nodes up again after healing")
        keys = CART_KEYS + CTR_KEYS + [both, one, "probe:maj3"] + ["iso1:%d" % k for k in range(10)]
        prefs = {k: [x.decode() for x in cmd(net, 0, "DYNAMO", "PREFLIST", k)] for k in keys}
        t_heal = time.time()
        diverged = {}

        def converged():
            for i in range(NODES):
                cmd(net, i, "DYNAMO", "SYNC")
            diverged.clear()
            for k in keys:
                copies = {}
                for owner in prefs[k]:
                    i = ids.index(owner)
                    _, sibs = cmd(net, i, "DGET", k, "R", "1")
                    copies[owner] = sorted(sibs)
                if len({tuple(v) for v in copies.values()}) != 1:
                    diverged[k] = copies
            return not diverged

        try:
            nl.wait_until(converged, 60, 0.5, "replica convergence")
            nl.log("replicas converged %.1f s after healing" % (time.time() - t_heal))
        except AssertionError:
            check(False, "replicas did not converge within 60 s: %r" % list(diverged.items())[:3])

        # -- the ledger against the final state (R=3 reads)
        items_checked = 0
        for k in CART_KEYS:
            _, sibs = nl.wait_until(lambda: cmd(net, 0, "DGET", k, "R", "3"), 15, 0.2, "DGET %s R 3" % k)
            have = set()
            for s in sibs:
                have.update(x for x in s.decode().split(",") if x)
            lost = ledger.acked[k] - have
            phantom = have - ledger.sent[k]
            check(not lost, "%s: acknowledged items lost: %s" % (k, sorted(lost)[:10]))
            check(not phantom, "%s: phantom items (never sent): %s" % (k, sorted(phantom)[:10]))
            items_checked += len(ledger.acked[k])
        for k in CTR_KEYS:
            v = int(nl.wait_until(lambda: cmd(net, 0, "GET", k), 15, 0.2, "GET " + k))
            lo, hi = ledger.ctr_acked[k], ledger.ctr_acked[k] + ledger.ctr_indet[k]
            check(lo <= v <= hi, "%s = %d, outside [acknowledged %d, + indeterminate = %d]" % (k, v, lo, hi))
        o = ledger.ops
        nl.log("operations: cart adds %d acknowledged + %d failed/indeterminate, INCR %d + %d, "
               "failed reads %d; %d acknowledged items and %d counters checked on %d keys"
               % (o["cart_ok"], o["cart_fail"], o["incr_ok"], o["incr_fail"], o["read_fail"],
                  items_checked, len(CTR_KEYS), len(keys)))
        if failures:
            net.tails()
            nl.log("FAIL: %d check(s) failed" % len(failures))
            return 1
        nl.log("PASS")
        return 0
    except BaseException:
        net.tails()
        raise
    finally:
        net.close()


if __name__ == "__main__":
    sys.exit(main())
