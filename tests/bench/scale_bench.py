#!/usr/bin/env python3
"""Scale benchmark (issue #12): load many 100-byte values into one node, then restart it.

For each key count (--keys, e.g. 1000000,10000000) and each system (dynakv standalone with
sync = "batch", and redis-server with AOF everysec as the reference), in the same run:

  1. start the server on an empty data directory;
  2. load the keys with `redis-cli --pipe` (SET key:<n> <100 bytes>, one stream); the load
     rate is keys / wall seconds, and CPU is the server's user+sys per key;
  3. check DBSIZE, then report resident memory (RssAnon and RssFile from /proc) and the
     data directory's size on disk;
  4. stop it with SIGTERM, start it again on the same directory, and time how long until it
     answers PING and until DBSIZE reports every key (restart time);
  5. read back a sample of keys and check their values.

Prints one table and, with --json, writes it. The issue's target: restart time (until the node
serves) at the largest key count less than 2x the restart time at the smallest. Not a test: it asserts nothing but
that the data came back.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from benchutil import cli, free_port, pipe_set

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "dynakv-server")
TICK = os.sysconf("SC_CLK_TCK")
VALUE = b"v" * 100


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


def du_mb(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total / (1 << 20)


class Server:
    def __init__(self, kind, work):
        self.kind = kind
        self.work = os.path.join(work, kind)
        os.makedirs(self.work, exist_ok=True)
        self.port = free_port()
        self.proc = None

    def argv(self):
        if self.kind == "redis":
            return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                    self.work, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                    "--daemonize", "no"]
        cfg = os.path.join(self.work, "dynakv.toml")
        with open(cfg, "w") as f:
            f.write('[node]\nid = "n1"\ndata_dir = "%s"\n[listen]\nredis = "127.0.0.1:%d"\n'
                    'memcache = ""\ncluster = ""\n[storage]\nengine = "lmdb"\nsync = "batch"\n'
                    % (os.path.join(self.work, "data"), self.port))
        return [BIN, "--config", cfg]

    def start(self):
        """Starts the process; returns (seconds to PING, seconds to the full DBSIZE)."""
        t0 = time.time()
        self.proc = subprocess.Popen(self.argv(), stdout=open(os.path.join(self.work, "log"), "a"),
                                     stderr=subprocess.STDOUT, cwd=self.work)
        deadline = t0 + 600
        ping = None
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %d" % (self.kind, self.proc.returncode))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        ping = time.time() - t0
                        break
            except OSError:
                pass
            time.sleep(0.01)
        if ping is None:
            raise RuntimeError("%s did not answer PING" % self.kind)
        return ping

    def wait_dbsize(self, want, t0, timeout=600):
        end = t0 + timeout
        while time.time() < end:
            try:
                if int(cli(self.port, "DBSIZE") or -1) >= want:
                    return time.time() - t0
            except ValueError:
                pass
            time.sleep(0.02)
        raise RuntimeError("%s: DBSIZE never reached %d" % (self.kind, want))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def run(kind, keys, work, keep=False):
    srv = Server(kind, work)
    row = {"system": kind, "keys": keys}
    try:
        srv.start()
        c0 = cpu_seconds(srv.proc.pid)
        t0 = time.time()
        pipe_set(srv.port, 0, keys, b"key:%010d", VALUE)
        secs = time.time() - t0
        row["load_s"] = round(secs, 1)
        row["load_keys_per_s"] = int(keys / secs)
        row["load_cpu_us_per_key"] = round((cpu_seconds(srv.proc.pid) - c0) * 1e6 / keys, 2)
        size = int(cli(srv.port, "DBSIZE"))
        if size != keys:
            raise RuntimeError("%s: DBSIZE %d after loading %d keys" % (kind, size, keys))
        if kind == "redis":
            cli(srv.port, "BGREWRITEAOF")  # what a restart reads: the compacted file
            while "aof_rewrite_in_progress:1" in cli(srv.port, "INFO", "persistence") or \
                    "aof_rewrite_scheduled:1" in cli(srv.port, "INFO", "persistence"):
                time.sleep(0.2)
        time.sleep(2)  # let the background checkpoint settle
        row.update({k: round(v) for k, v in rss_mb(srv.proc.pid).items()})
        srv.stop()
        row["disk_mb"] = round(du_mb(srv.work))
        t0 = time.time()
        row["restart_ping_s"] = round(srv.start(), 2)
        row["restart_dbsize_s"] = round(srv.wait_dbsize(keys, t0), 2)
        row["restart_rss_mb"] = round(rss_mb(srv.proc.pid).get("VmRSS", 0))
        for n in range(0, keys, max(1, keys // 97)):
            k = "key:%010d" % n
            if cli(srv.port, "GET", k) != VALUE.decode():
                raise RuntimeError("%s: %s lost after restart" % (kind, k))
    finally:
        srv.stop()
        if not keep:
            shutil.rmtree(srv.work, ignore_errors=True)
    return row


COLUMNS = ["system", "keys", "load_keys_per_s", "load_cpu_us_per_key", "VmRSS", "RssAnon",
           "RssFile", "disk_mb", "restart_ping_s", "restart_dbsize_s", "restart_rss_mb"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", default="1000000,10000000", help="comma-separated key counts")
    ap.add_argument("--systems", default="dynakv,redis", help="dynakv, redis")
    ap.add_argument("--work", default=None, help="scratch directory (default: a temp dir)")
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the last data directory of each system (needs --work)")
    args = ap.parse_args()
    for tool in ["redis-cli"] + (["redis-server"] if "redis" in args.systems else []):
        if not shutil.which(tool):
            sys.exit("%s not found" % tool)
    if "dynakv" in args.systems and not os.path.exists(BIN):
        sys.exit("%s not built" % BIN)
    work = args.work or tempfile.mkdtemp(prefix="dynakv-scale-")
    rows = []
    try:
        for keys in [int(k) for k in args.keys.split(",")]:
            for kind in args.systems.split(","):
                row = run(kind, keys, work, keep=args.keep and bool(args.work))
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in COLUMNS) + " |")
    for kind in args.systems.split(","):
        mine = [r for r in rows if r["system"] == kind]
        if len(mine) >= 2:
            lo, hi = mine[0], mine[-1]
            for what, col in (("serving (first PONG)", "restart_ping_s"),
                              ("every key counted (DBSIZE)", "restart_dbsize_s")):
                print("%s: restart until %s at %d keys / at %d keys = %.2fx"
                      % (kind, what, hi["keys"], lo["keys"],
                         hi[col] / max(lo[col], 1e-3)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
