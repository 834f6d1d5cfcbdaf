#!/usr/bin/env python3
"""Repair-cost benchmark (issue #12): two replicas of --keys keys that differ in --diff keys
are brought into sync by Merkle anti-entropy alone.

A 2-node cluster (N=2, R=1, W=1, no hinted handoff: `limits.max_hints = 0`; periodic
anti-entropy off, so only `DYNAMO SYNC` builds trees and starts rounds):

  1. --keys 100-byte values are loaded through node 1 (both nodes hold them), and node 2
     takes a backup (`DYNAMO BACKUP`);
  2. --diff more keys are written through node 1, then node 2 is stopped and restored from
     its backup (README, "Backup and restore"): it lacks exactly those keys, and nothing but
     anti-entropy will bring them (no hints were held: node 2 was up when they were written);
  3. a GET load (redis-benchmark -P 16 against node 1, over the loaded keys) runs for
     --seconds without repair: the baseline rate;
  4. the same load runs again while `DYNAMO SYNC` on node 2 repairs it; the run waits until
     node 2's `ae_keys_repaired` has grown by --diff. The repair includes both nodes hashing
     their whole stores first (trees are built on demand, and a restarted node has none).

Reports the anti-entropy bytes both nodes sent (INFO dynamo `ae_bytes_sent`) per differing
key, against the key and value bytes of a differing key, how long the repair took, and the
foreground rate during the repair as a ratio of the baseline. Targets (issue #12): bytes at
most 10x the differing data; foreground at least 0.7x. Not a test.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchutil import cli, free_port, pipe_set

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "dynakv-server")
VALUE = b"v" * 100
KEY = b"key:%012d"  # redis-benchmark's __rand_int__ form, so its GETs hit


def info_dynamo(port):
    out = {}
    for line in cli(port, "INFO", "dynamo").splitlines():
        k, _, v = line.strip().partition(":")
        if v.isdigit():
            out[k] = int(v)
    return out


class Node:
    def __init__(self, work, name, seeds_ports, cluster_port):
        self.name = name
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.cluster_port = cluster_port
        self.cfg = os.path.join(self.dir, "dynakv.toml")
        seeds = ", ".join('"127.0.0.1:%d"' % p for p in seeds_ports)
        with open(self.cfg, "w") as f:
            f.write('[node]\nid = "%s"\ndata_dir = "%s"\n[listen]\nredis = "127.0.0.1:%d"\n'
                    'memcache = ""\ncluster = "127.0.0.1:%d"\n[storage]\nengine = "lmdb"\n'
                    'sync = "batch"\n[cluster]\nseeds = [%s]\nanti_entropy_interval_ms = 0\n'
                    '[replication]\nn = 2\nr = 1\nw = 1\n[limits]\nmax_hints = 0\n'
                    % (name, os.path.join(self.dir, "data"), self.port, cluster_port, seeds))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([BIN, "--config", self.cfg],
                                     stdout=open(os.path.join(self.dir, "log"), "a"),
                                     stderr=subprocess.STDOUT)
        end = time.time() + 60
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited" % self.name)
            if cli(self.port, "PING") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("%s did not start" % self.name)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def two_nodes(prefix):
    """A work directory and the two nodes of the cluster (not started), each seeded with
    the other."""
    if not os.path.exists(BIN):
        sys.exit("%s not built" % BIN)
    work = tempfile.mkdtemp(prefix=prefix)
    cp = [free_port(), free_port()]
    return work, Node(work, "n1", [cp[1]], cp[0]), Node(work, "n2", [cp[0]], cp[1])


def wait_members_up(node, want, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if cli(node.port, "DYNAMO", "MEMBERS").split().count("up") >= want:
            return
        time.sleep(0.2)
    raise RuntimeError("members not up")


def gets(port, keys, seconds):
    """GET load through redis-benchmark for about `seconds`; returns ops/s."""
    t0 = time.time()
    p = subprocess.Popen(["redis-benchmark", "-p", str(port), "-t", "get", "-c", "50", "-P", "16",
                          "-r", str(keys), "-n", "100000000", "-q", "--csv"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return p, t0


def stop_gets(p, port, t0):
    """Stops the load; returns (requests done, seconds) from the server's counter."""
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return time.time() - t0


def get_calls(port):
    for line in cli(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_get:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def timed_gets(port, keys, seconds, during=None):
    c0 = get_calls(port)
    p, t0 = gets(port, keys, seconds)
    time.sleep(0.5)
    result = during() if during else None
    while time.time() - t0 < seconds:
        time.sleep(0.1)
    elapsed = stop_gets(p, port, t0)
    return (get_calls(port) - c0) / elapsed, result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--diff", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    for tool in ("redis-cli", "redis-benchmark"):
        if not shutil.which(tool):
            sys.exit("%s not found" % tool)
    work, a, b = two_nodes("dynakv-repair-")
    row = {"keys": args.keys, "diff": args.diff}
    try:
        a.start()
        b.start()
        wait_members_up(a, 2)
        t = time.time()
        pipe_set(a.port, 0, args.keys, KEY, VALUE)
        row["load_s"] = round(time.time() - t, 1)
        # W=1: node 2 applies the tail of the load after node 1 acknowledged it; let it catch up.
        end = time.time() + 120
        while int(cli(b.port, "DBSIZE") or 0) < args.keys and time.time() < end:
            time.sleep(0.2)
        backup = os.path.join(work, "n2-backup")
        if cli(b.port, "DYNAMO", "BACKUP", backup, timeout=600) != "OK":
            raise RuntimeError("backup failed")
        pipe_set(a.port, args.keys, args.diff, KEY, VALUE)
        time.sleep(2)
        b.stop()
        shutil.rmtree(os.path.join(b.dir, "data"))
        os.rename(backup, os.path.join(b.dir, "data"))  # n2 now lacks the --diff keys
        b.start()
        wait_members_up(a, 2)
        wait_members_up(b, 2)
        time.sleep(2)
        before = [info_dynamo(n.port) for n in (a, b)]
        repaired0 = before[1].get("ae_keys_repaired", 0)
        base, _ = timed_gets(a.port, args.keys, args.seconds)
        row["baseline_gets_per_s"] = int(base)

        def repair():
            # A round is bounded (records scanned and sent per message), so it may take more
            # than one: each time node 2 finishes a round short of the total, SYNC again.
            t0 = time.time()
            rounds = info_dynamo(b.port).get("ae_rounds", 0)
            cli(b.port, "DYNAMO", "SYNC")
            row["sync_rounds"] = 1
            end = t0 + 300
            while time.time() < end:
                d = info_dynamo(b.port)
                if d.get("ae_keys_repaired", 0) - repaired0 >= args.diff:
                    return time.time() - t0
                if d.get("ae_rounds", 0) > rounds:
                    rounds = d.get("ae_rounds", 0)
                    cli(b.port, "DYNAMO", "SYNC")
                    row["sync_rounds"] += 1
                time.sleep(0.05)
            keys = ("ae_rounds", "ae_keys_repaired", "ae_bytes_sent", "ae_records_hashed")
            raise RuntimeError("node 2 was not repaired: %s" % [
                {k: info_dynamo(n.port).get(k) for k in keys} for n in (a, b)])

        during, secs = timed_gets(a.port, args.keys, args.seconds, repair)
        after = [info_dynamo(n.port) for n in (a, b)]
        sent = sum(x.get("ae_bytes_sent", 0) - y.get("ae_bytes_sent", 0)
                   for x, y in zip(after, before))
        data = len(KEY % 0) + len(VALUE)
        row.update({
            "repair_s": round(secs, 2),
            "ae_bytes_sent": sent,
            "bytes_per_differing_key": round(sent / args.diff, 1),
            "data_bytes_per_key": data,
            "bytes_ratio": round(sent / args.diff / data, 2),
            "during_gets_per_s": int(during),
            "foreground_ratio": round(during / base, 2),
            "keys_repaired": after[1].get("ae_keys_repaired", 0) - repaired0,
            "records_hashed": [x.get("ae_records_hashed", 0) - y.get("ae_records_hashed", 0)
                               for x, y in zip(after, before)],
        })
        missing = [n for n in range(args.keys, args.keys + args.diff, max(1, args.diff // 50))
                   if cli(b.port, "GET", (KEY % n).decode()) != VALUE.decode()]  # R=1: n2's copy
        row["spot_check_missing_on_n2"] = len(missing)
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(row, indent=1))
    print("bytes per differing key: %.0f (%.2fx the %d bytes of key and value; target <= 10x)"
          % (row["bytes_per_differing_key"], row["bytes_ratio"], row["data_bytes_per_key"]))
    print("foreground GETs during repair / without: %.2f (target >= 0.7)" % row["foreground_ratio"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(row, f, indent=1)


if __name__ == "__main__":
    main()
