#!/usr/bin/env python3
"""The cluster benchmark (issue #12): dynakv standalone, a 1-node cluster and a 3-node cluster
(N=3 R=2 W=2) next to redis-server (AOF everysec, and appendfsync always as the equal-durability
reference), memcached -t 1, and Dynomite where it has been built, in the same run.

    /usr/bin/python3 tests/bench/cluster_bench.py [--requests 100000] [--rounds 3]
        [--workloads strings|collections|all] [--keys 100000] [--preload]

`--keys` is redis-benchmark's keyspace (-r). `--preload` first writes every one of those keys
(100-byte values, through `redis-cli --pipe`, untimed), so the timed GETs all hit and the
stores hold the whole keyspace: issue #12's "a 3-node cluster holding 1M keys on each node"
is `--keys 1000000 --preload`.

`--workloads collections` runs redis-benchmark's hset, sadd, zadd, lpush, lpop and
lrange_100 tests instead of set/get (issue #16 sets the target: standalone at least 0.8x
redis-server's ops/s). lpop pops what lpush pushed in the same round.

Each system runs alone (the machine has 2 cores; the client shares them). Per workload it
prints ops/s, p50/p99/p99.9 latency and the servers' CPU (user+sys of every server process,
from /proc) per request, then the ratios issue #12 sets targets for, each marked "ok" or
"MISS". The same table goes to JSON (--json) and, when matplotlib is installed, a PNG chart of
the ratios (--png). Numbers depend on the machine: compare ratios from one run only. This is a
benchmark, not a test; nothing here fails on a slow machine.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchutil import free_port, pipe_set

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "build", "dynakv-server")
TICK = os.sysconf("SC_CLK_TCK")
DYNOMITE_DEFAULT = os.path.join(ROOT, "tests", "bench", ".dynomite", "src", "dynomite")


def wait_port(port, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d did not open" % port)


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / TICK


class System:
    """A set of server processes, started together and stopped by PID."""

    def __init__(self, name, work):
        self.name = name
        self.work = os.path.join(work, name)
        os.makedirs(self.work, exist_ok=True)
        self.procs = []
        self.redis_port = None  # the one entry point redis-benchmark talks to
        self.mc_port = None

    def spawn(self, argv, log):
        out = open(os.path.join(self.work, log), "w")
        self.procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                           cwd=self.work))

    def pids(self):
        return [p.pid for p in self.procs]

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def dynakv_toml(work, node_id, redis_port, mc_port, cluster_port, seeds, n, r, w):
    data = os.path.join(work, node_id)
    os.makedirs(data, exist_ok=True)
    lines = [
        "[node]", 'id = "%s"' % node_id, 'data_dir = "%s"' % data,
        "[listen]", 'redis = "127.0.0.1:%d"' % redis_port,
        'memcache = "%s"' % ("127.0.0.1:%d" % mc_port if mc_port else ""),
        'cluster = "%s"' % ("127.0.0.1:%d" % cluster_port if cluster_port else ""),
        "[storage]", 'engine = "lmdb"', 'sync = "batch"',
    ]
    if cluster_port:
        lines += ["[cluster]", "seeds = [%s]" % ", ".join('"127.0.0.1:%d"' % s for s in seeds),
                  "[replication]", "n = %d" % n, "r = %d" % r, "w = %d" % w]
    path = os.path.join(work, node_id + ".toml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def start_redis(work, name, fsync):
    s = System(name, work)
    s.redis_port = free_port()
    s.spawn(["redis-server", "--port", str(s.redis_port), "--bind", "127.0.0.1", "--dir", s.work,
             "--appendonly", "yes", "--appendfsync", fsync, "--save", "", "--daemonize", "no"],
            "redis.log")
    wait_port(s.redis_port)
    return s


def start_memcached(work):
    s = System("memcached", work)
    s.mc_port = free_port()
    user = ["-u", "nobody"] if os.getuid() == 0 else []  # memcached refuses to run as root
    s.spawn(["memcached", "-p", str(s.mc_port), "-U", "0", "-l", "127.0.0.1", "-m", "1024",
             "-t", "1"] + user, "memcached.log")
    wait_port(s.mc_port)
    return s


def start_dynakv(work, name, nodes):
    """nodes == 0: standalone (no cluster listener); else a cluster of that many nodes."""
    s = System(name, work)
    count = max(nodes, 1)
    redis_ports = [free_port() for _ in range(count)]
    mc_ports = [free_port() for _ in range(count)]
    cl_ports = [free_port() for _ in range(count)] if nodes else [None] * count
    n = min(3, count)
    r = min(2, n)
    w = min(2, n)
    for i in range(count):
        seeds = [p for j, p in enumerate(cl_ports) if j != i] if nodes else []
        cfg = dynakv_toml(s.work, "n%d" % (i + 1), redis_ports[i], mc_ports[i], cl_ports[i],
                          seeds, n, r, w)
        s.spawn([BIN, "--config", cfg], "n%d.log" % (i + 1))
    for p in redis_ports + mc_ports:
        wait_port(p)
    s.redis_port = redis_ports[0]
    s.mc_port = mc_ports[0]
    if nodes > 1:  # wait until node 1 sees every peer up, so writes reach all replicas
        end = time.time() + 30
        while time.time() < end:
            out = subprocess.run(["redis-cli", "-p", str(s.redis_port), "DYNAMO", "MEMBERS"],
                                 capture_output=True, text=True).stdout
            if out.split().count("up") >= count:
                break
            time.sleep(0.2)
        time.sleep(1.0)
    return s


def start_dynomite(work, binary):
    """Three racks of one redis-server each (AOF everysec), DC_QUORUM, through node 1."""
    s = System("dynomite", work)
    rports = [free_port() for _ in range(3)]
    dports = [free_port() for _ in range(3)]
    lports = [free_port() for _ in range(3)]
    sports = [free_port() for _ in range(3)]
    for i in range(3):
        d = os.path.join(s.work, "r%d" % i)
        os.makedirs(d, exist_ok=True)
        s.spawn(["redis-server", "--port", str(rports[i]), "--bind", "127.0.0.1", "--dir", d,
                 "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                 "--daemonize", "no"], "redis%d.log" % i)
    for p in rports:
        wait_port(p)
    for i in range(3):
        seeds = ["127.0.0.1:%d:rack%d:dc1:0" % (dports[j], j + 1) for j in range(3) if j != i]
        yml = os.path.join(s.work, "dyn%d.yml" % i)
        with open(yml, "w") as f:
            f.write("dyn_o_mite:\n  datacenter: dc1\n  rack: rack%d\n" % (i + 1))
            f.write("  dyn_listen: 127.0.0.1:%d\n" % dports[i])
            f.write("  dyn_seeds:\n" + "".join("  - %s\n" % x for x in seeds))
            f.write("  listen: 127.0.0.1:%d\n" % lports[i])
            f.write("  servers:\n  - 127.0.0.1:%d:1\n" % rports[i])
            f.write("  tokens: '0'\n  data_store: 0\n  stats_listen: 127.0.0.1:%d\n" % sports[i])
            f.write("  read_consistency: DC_QUORUM\n  write_consistency: DC_QUORUM\n")
            f.write("  secure_server_option: none\n  mbuf_size: 16384\n  max_msgs: 300000\n")
        s.spawn([binary, "-c", yml, "-o", os.path.join(s.work, "dyn%d.out" % i)], "dyn%d.log" % i)
    for p in lports:
        wait_port(p)
    time.sleep(3.0)  # gossip settles
    s.redis_port = lports[0]
    return s


PCT_RE = re.compile(r"^\s*([0-9.]+)% <= ([0-9.]+) milliseconds")


def redis_benchmark(port, test, pipeline, requests, pids, keys=100000):
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50",
            "-d", "100", "-r", str(keys), "-n", str(requests), "-P", str(pipeline)]
    if test == "lrange_100":
        # redis-benchmark's own lrange_100 runs its LPUSH preload in the same process, which
        # would mix into the CPU and latency figures: preload 1,000 elements untimed, then
        # time LRANGE mylist 0 99 alone (the command redis-benchmark times).
        subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "10", "-d", "100",
                        "-n", "1000", "-t", "lpush"], capture_output=True, timeout=120)
        argv += ["lrange", "mylist", "0", "99"]
    else:
        argv += ["-t", test]
    c0 = cpu_seconds(pids)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600).stdout
    c1 = cpu_seconds(pids)
    rps = None
    pcts = []
    in_pct = False
    for line in out.replace("\r", "\n").split("\n"):
        if line.startswith("Latency by percentile"):
            in_pct = True
            pcts = []  # the last test's
            continue
        if line.startswith("Cumulative distribution"):
            in_pct = False
        m = PCT_RE.match(line)
        if in_pct and m:
            pcts.append((float(m.group(1)), float(m.group(2))))
        m = re.search(r"throughput summary: ([0-9.]+) requests per second", line)
        if m:
            rps = float(m.group(1))
    if rps is None:
        raise RuntimeError("redis-benchmark printed no throughput:\n" + out[-2000:])

    def pct(target):
        for p, ms in pcts:
            if p >= target:
                return ms
        return pcts[-1][1] if pcts else float("nan")

    return {"ops": rps, "p50": pct(50.0), "p99": pct(99.0), "p999": pct(99.9),
            "cpu_us": (c1 - c0) * 1e6 / requests}


def memcaslap(port, pids, seconds):
    c0 = cpu_seconds(pids)
    out = subprocess.run(["memcaslap", "-s", "127.0.0.1:%d" % port, "-t", "%ds" % seconds,
                          "-c", "50", "-T", "1", "-X", "100"],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    c1 = cpu_seconds(pids)
    m = re.search(r"Run time: .*?Ops: (\d+) TPS: (\d+)", out)
    if not m:
        raise RuntimeError("memcaslap printed no TPS:\n" + out[-2000:])
    ops = int(m.group(1))
    return {"ops": float(m.group(2)), "cpu_us": (c1 - c0) * 1e6 / max(ops, 1)}


WORKLOAD_SETS = {
    "strings": [("set", 1), ("get", 1), ("set", 16), ("get", 16)],
    "collections": [("hset", 1), ("sadd", 1), ("zadd", 1), ("lpush", 1), ("lpop", 1), ("lrange_100", 1),
                    ("hset", 16), ("sadd", 16), ("zadd", 16), ("lpush", 16), ("lpop", 16), ("lrange_100", 16)],
}
WORKLOAD_SETS["all"] = WORKLOAD_SETS["strings"] + WORKLOAD_SETS["collections"]
WORKLOADS = WORKLOAD_SETS["strings"]


def run_round(args, work, systems, results):
    for name in systems:
        if name == "redis-everysec":
            s = start_redis(work, name, "everysec")
        elif name == "redis-always":
            s = start_redis(work, name, "always")
        elif name == "memcached":
            s = start_memcached(work)
        elif name == "standalone":
            s = start_dynakv(work, name, 0)
        elif name == "1-node":
            s = start_dynakv(work, name, 1)
        elif name == "3-node":
            s = start_dynakv(work, name, 3)
        elif name == "dynomite":
            s = start_dynomite(work, args.dynomite)
        try:
            if s.redis_port and args.preload:
                t0 = time.time()
                pipe_set(s.redis_port, 0, args.keys, b"key:%012d", b"x" * 100)
                print("  %-15s preloaded %d keys in %.1f s" % (name, args.keys, time.time() - t0),
                      flush=True)
            if s.redis_port:
                for test, pipe in WORKLOADS:
                    r = redis_benchmark(s.redis_port, test, pipe, args.requests, s.pids(), args.keys)
                    results.setdefault(name, {}).setdefault("%s -P%d" % (test, pipe), []).append(r)
                    print("  %-15s %-9s %9.0f ops/s  cpu %6.1f us/op  p50 %6.3f  p99 %6.3f  "
                          "p99.9 %7.3f ms" % (name, "%s -P%d" % (test, pipe), r["ops"], r["cpu_us"],
                                              r["p50"], r["p99"], r["p999"]), flush=True)
            if s.mc_port and name in ("memcached", "standalone") and args.workloads != "collections":
                r = memcaslap(s.mc_port, s.pids(), args.memcaslap_seconds)
                results.setdefault(name, {}).setdefault("memcaslap", []).append(r)
                print("  %-15s %-9s %9.0f ops/s  cpu %6.1f us/op" % (name, "memcaslap", r["ops"],
                                                                     r["cpu_us"]), flush=True)
        finally:
            s.stop()
            shutil.rmtree(s.work, ignore_errors=True)


def median_cell(runs):
    keys = runs[0].keys()
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def ratio_rows(med):
    """(label, value, target, ok) for every target of issue #12 that this run measured."""
    rows = []

    def get(sys_, wl, field):
        return med.get(sys_, {}).get(wl, {}).get(field)

    def add(label, num, den, target, at_most):
        if num is None or den is None or den == 0:
            return
        v = num / den
        if target is None:  # measured for the record, no target
            rows.append((label, v, "-", None))
            return
        rows.append((label, v, ("<= %.2f" if at_most else ">= %.2f") % target,
                     v <= target if at_most else v >= target))

    for wl in ("set -P1", "set -P16"):
        add("3-node / standalone CPU per request, " + wl,
            get("3-node", wl, "cpu_us"), get("standalone", wl, "cpu_us"), 4.0, True)
    for wl in ("get -P1", "get -P16"):
        add("3-node / standalone CPU per request, " + wl,
            get("3-node", wl, "cpu_us"), get("standalone", wl, "cpu_us"), 2.5, True)
    for wl, _ in [(w, 0) for w in ("set -P1", "get -P1", "set -P16", "get -P16")]:
        add("1-node / standalone CPU per request, " + wl,
            get("1-node", wl, "cpu_us"), get("standalone", wl, "cpu_us"), 1.1, True)
    for wl in ("set -P1", "get -P1", "set -P16", "get -P16"):
        add("3-node / redis ops/s, " + wl, get("3-node", wl, "ops"),
            get("redis-everysec", wl, "ops"), 0.3, False)
        add("3-node / dynomite ops/s, " + wl, get("3-node", wl, "ops"),
            get("dynomite", wl, "ops"), 1.0, False)
        add("3-node / redis p99.9, " + wl, get("3-node", wl, "p999"),
            get("redis-everysec", wl, "p999"), 5.0, True)
        t = 0.8 if wl.startswith("set") else 1.0
        add("standalone / redis ops/s, " + wl, get("standalone", wl, "ops"),
            get("redis-everysec", wl, "ops"), t, False)
        add("standalone / redis p99.9, " + wl, get("standalone", wl, "p999"),
            get("redis-everysec", wl, "p999"), 2.0, True)
    for test, pipe in WORKLOAD_SETS["collections"]:
        wl = "%s -P%d" % (test, pipe)
        add("standalone / redis ops/s, " + wl + " (#16)", get("standalone", wl, "ops"),
            get("redis-everysec", wl, "ops"), 0.8, False)
        add("standalone / redis CPU per request, " + wl, get("standalone", wl, "cpu_us"),
            get("redis-everysec", wl, "cpu_us"), None, True)
    add("standalone / memcached -t 1 ops/s, memcaslap", get("standalone", "memcaslap", "ops"),
        get("memcached", "memcaslap", "ops"), 1.0, False)
    return rows


def draw(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (apt-get install python3-matplotlib): no chart")
        return
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.2))
    labels = [r[0] for r in rows][::-1]
    vals = [r[1] for r in rows][::-1]
    colors = ["tab:gray" if r[3] is None else "tab:green" if r[3] else "tab:red" for r in rows][::-1]
    ax.barh(labels, vals, color=colors)
    for i, r in enumerate(rows[::-1]):
        ax.text(r[1], i, " %.2f (%s)" % (r[1], r[2]), va="center", fontsize=7)
    ax.set_xlabel("ratio (green: target met)")
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title("dynakv cluster benchmark: ratios measured in one run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print("chart:", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keys", type=int, default=100000, help="redis-benchmark -r (the keyspace)")
    ap.add_argument("--preload", action="store_true",
                    help="write every key of the keyspace before the timed workloads")
    ap.add_argument("--systems", default="redis-everysec,redis-always,memcached,standalone,"
                    "1-node,3-node,dynomite")
    ap.add_argument("--memcaslap-seconds", type=int, default=10)
    ap.add_argument("--dynomite", default=os.environ.get("DYNOMITE", DYNOMITE_DEFAULT))
    ap.add_argument("--workloads", default="strings", choices=sorted(WORKLOAD_SETS))
    ap.add_argument("--json", default="/tmp/dynakv-cluster-bench.json")
    ap.add_argument("--png", default="/tmp/dynakv-cluster-bench.png")
    args = ap.parse_args()
    global WORKLOADS
    WORKLOADS = WORKLOAD_SETS[args.workloads]
    if not os.access(BIN, os.X_OK):
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "build.sh")], check=True)
    systems = [s for s in args.systems.split(",") if s]
    if "dynomite" in systems and not os.access(args.dynomite, os.X_OK):
        print("dynomite not built (bash tests/bench/build-dynomite.sh): skipped")
        systems.remove("dynomite")
    work = tempfile.mkdtemp(prefix="dynakv-cluster-bench.")
    results = {}
    try:
        for rnd in range(args.rounds):
            print("round %d of %d" % (rnd + 1, args.rounds), flush=True)
            run_round(args, work, systems, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {s: {wl: median_cell(runs) for wl, runs in w.items()} for s, w in results.items()}
    print("\nmedians of %d rounds, %d requests, redis-benchmark -c 50 -d 100 -r %d%s"
          % (args.rounds, args.requests, args.keys, ", preloaded" if args.preload else ""))
    print("%-15s %-9s %10s %10s %8s %8s %8s" % ("system", "workload", "ops/s", "cpu us/op",
                                                 "p50 ms", "p99 ms", "p99.9 ms"))
    for s in systems:
        for wl, c in med.get(s, {}).items():
            print("%-15s %-9s %10.0f %10.1f %8s %8s %8s" % (
                s, wl, c["ops"], c["cpu_us"],
                "%.3f" % c["p50"] if "p50" in c else "-", "%.3f" % c["p99"] if "p99" in c else "-",
                "%.3f" % c["p999"] if "p999" in c else "-"))
    rows = ratio_rows(med)
    print("\n%-55s %8s %10s" % ("ratio (issue #12 target)", "value", "target"))
    for label, v, target, ok in rows:
        print("%-55s %8.2f %10s  %s" % (label, v, target, "" if ok is None else "ok" if ok else "MISS"))
    with open(args.json, "w") as f:
        json.dump({"rounds": args.rounds, "requests": args.requests, "keys": args.keys,
                   "preload": args.preload, "raw": results,
                   "median": med,
                   "ratios": [{"label": l, "value": v, "target": t, "ok": ok}
                              for l, v, t, ok in rows]}, f, indent=1)
    print("json:", args.json)
    draw(rows, args.png)


if __name__ == "__main__":
    sys.exit(main())
