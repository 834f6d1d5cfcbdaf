#!/usr/bin/python3
"""Ownership handoff benchmark: how fast a join moves data, and what it costs the clients.

    /usr/bin/python3 tests/bench/handoff_bench.py [--keys 200000] [--value-bytes 100]

Starts 3 dynakv nodes (N=3, R=2, W=2) on 127.0.0.1, loads --keys keys, then runs a steady
SET load (pipelined, 4 connections) while a 4th node joins. Prints:
  - the handoff: records and bytes the nodes sent (INFO handoff_*), how long until every node
    says "No transfers active", records/s and MB/s;
  - the foreground write rate in the seconds before the join and during the handoff, and
    their ratio (the same run, the same machine: a ratio, not an absolute rate);
  - the server processes' CPU seconds per foreground request before and during.
Not a test: the figures depend on the machine. Every loop is bounded in time; every process
started here is stopped by its PID.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from benchutil import free_port

import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "build", "dynakv-server")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


class Node:
    def __init__(self, work, name, seeds, rate_mb=32, concurrency=2):
        self.name = name
        self.port = free_port()
        self.cport = free_port()
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir)
        seed_list = ", ".join(f'"127.0.0.1:{p}"' for p in seeds)
        self.conf = os.path.join(work, name + ".toml")
        with open(self.conf, "w") as f:
            f.write(f"""[node]
id = "{name}"
data_dir = "{self.dir}"
[listen]
redis = "127.0.0.1:{self.port}"
cluster = "127.0.0.1:{self.cport}"
[cluster]
seeds = [{seed_list}]
gossip_interval_ms = 100
anti_entropy_interval_ms = 0
handoff_rate_mb = {rate_mb}
handoff_concurrency = {concurrency}
[replication]
n = 3
r = 2
w = 2
""")
        self.log = open(os.path.join(work, name + ".log"), "w")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([BIN, "--config", self.conf], stdout=self.log,
                                     stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start")

    def client(self):
        return redis.Redis(port=self.port, socket_timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def info_dynamo(node):
    return node.client().info("dynamo")  # redis-py parses the section into a dict


def members_up(node, want):
    rows = node.client().execute_command("DYNAMO", "MEMBERS")
    return sum(1 for r in rows if r[3] == b"up") == want


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=200000)
    ap.add_argument("--value-bytes", type=int, default=100)
    ap.add_argument("--before-s", type=float, default=3.0)
    ap.add_argument("--rate-mb", type=int, default=32, help="cluster.handoff_rate_mb")
    ap.add_argument("--concurrency", type=int, default=2, help="cluster.handoff_concurrency")
    args = ap.parse_args()
    if not os.access(BIN, os.X_OK):
        sys.exit(f"{BIN} not built: bash scripts/build.sh")
    work = tempfile.mkdtemp(prefix="dynakv-handoff.")
    nodes = []
    stop = threading.Event()
    try:
        seeds = []
        for i in range(4):
            nodes.append(Node(work, f"n{i + 1}", [], args.rate_mb, args.concurrency))
        cports = [n.cport for n in nodes[:3]]
        for n in nodes:  # rewrite seeds: the first three seed each other, n4 seeds all three
            with open(n.conf) as f:
                text = f.read()
            others = [p for p in cports if p != n.cport]
            text = text.replace("seeds = []", "seeds = [" + ", ".join(f'"127.0.0.1:{p}"' for p in others) + "]")
            with open(n.conf, "w") as f:
                f.write(text)
        for n in nodes[:3]:
            n.start()
        deadline = time.time() + 20
        while not all(members_up(n, 3) for n in nodes[:3]):
            if time.time() > deadline:
                raise RuntimeError("3 nodes did not converge")
            time.sleep(0.1)

        value = b"x" * args.value_bytes
        t0 = time.time()
        conns = [n.client() for n in nodes[:3]]
        batch = 1000
        for start in range(0, args.keys, batch):
            p = conns[(start // batch) % 3].pipeline(transaction=False)
            for k in range(start, min(start + batch, args.keys)):
                p.set(f"key:{k}", value)
            p.execute()
        load_s = time.time() - t0
        print(f"loaded {args.keys} keys of {args.value_bytes} B through 3 nodes in {load_s:.1f} s")

        # Steady foreground SET load: 4 connections, 16-deep pipelines, new keys.
        done = []  # (time, count) samples
        lock = threading.Lock()
        counter = [0]

        def writer(idx):
            c = nodes[idx % 3].client()
            i = 0
            while not stop.is_set():
                p = c.pipeline(transaction=False)
                for _ in range(16):
                    p.set(f"fg:{idx}:{i}", value)
                    i += 1
                p.execute()
                with lock:
                    counter[0] += 16

        threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        pids = [n.proc.pid for n in nodes[:3]]

        def snapshot():
            with lock:
                c = counter[0]
            return time.time(), c, sum(cpu_seconds(p) for p in pids)

        time.sleep(1.0)  # warm up
        a = snapshot()
        time.sleep(args.before_s)
        b = snapshot()
        nodes[3].start()
        pids.append(nodes[3].proc.pid)
        b = (b[0], b[1], b[2])  # CPU of n4 counts from its start
        join_t = time.time()
        deadline = join_t + 300
        quiet_since = None
        while time.time() < deadline:
            idle = True
            for n in nodes:
                r = n.client().execute_command("DYNAMO", "TRANSFERS")
                if r != b"No transfers active" and r != "No transfers active":
                    idle = False
                    break
            up = all(members_up(n, 4) for n in nodes)
            if idle and up:
                if quiet_since is None:
                    quiet_since = time.time()
                elif time.time() - quiet_since >= 0.3:
                    break
            else:
                quiet_since = None
            time.sleep(0.05)
        else:
            raise RuntimeError("handoff did not finish within 300 s")
        end_t = quiet_since
        c = snapshot()
        stop.set()
        for t in threads:
            t.join(10)

        sent = sum(int(info_dynamo(n).get("handoff_records_sent", 0)) for n in nodes)
        sent_b = sum(int(info_dynamo(n).get("handoff_bytes_sent", 0)) for n in nodes)
        recv4 = int(info_dynamo(nodes[3]).get("handoff_records_received", 0))
        dur = end_t - join_t
        before_rate = (b[1] - a[1]) / (b[0] - a[0])
        during_rate = (c[1] - b[1]) / (c[0] - b[0])
        cpu_before = (b[2] - a[2]) / max(b[1] - a[1], 1) * 1e6
        cpu_during = (c[2] - b[2]) / max(c[1] - b[1], 1) * 1e6
        print(f"cluster.handoff_rate_mb = {args.rate_mb}, handoff_concurrency = {args.concurrency}")
        print(f"handoff: {sent} records, {sent_b / 1e6:.1f} MB sent ({recv4} received by the new "
              f"node) in {dur:.2f} s: {sent / dur:,.0f} records/s, {sent_b / 1e6 / dur:.1f} MB/s")
        print(f"foreground SET before the join: {before_rate:,.0f}/s; during the handoff: "
              f"{during_rate:,.0f}/s; ratio {during_rate / before_rate:.2f}")
        print(f"server CPU per foreground SET: {cpu_before:.1f} us before, {cpu_during:.1f} us "
              f"during (handoff work included)")
        # Nothing lost: every loaded key reads back.
        missing = 0
        cl = nodes[3].client()
        for start in range(0, args.keys, 1000):
            p = cl.pipeline(transaction=False)
            for k in range(start, min(start + 1000, args.keys)):
                p.get(f"key:{k}")
            missing += sum(1 for v in p.execute() if v != value)
        print(f"loaded keys unreadable after the join: {missing}")
    finally:
        stop.set()
        for n in nodes:
            n.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
