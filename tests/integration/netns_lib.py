# tests/integration/netns_lib.py: real-network fixtures for the partition, multi-host and
# clock-skew tests (netns_partition_test.py, netns_multihost_test.py, clock_skew_test.py).
#
# Net: one network namespace per node plus a client namespace, each with a veth pair whose
# other end is a port of bridge br0 in a bridge namespace. Every name carries the test's PID
# (namespaces dkv<pid>-...; the bridge ports live inside the bridge namespace), so parallel
# runs cannot clash, and nothing is added to the root namespace. close() (called from a
# finally, an atexit hook and SIGTERM/SIGINT) stops every process this module started, by
# PID, then deletes every namespace (which takes its veths, bridges and nftables rules).
#
# Faults: a node's bridge port down/up (isolation, flapping), ports moved to a second bridge
# br1 (a symmetric partition between the two bridges), and an nftables table in a node's
# namespace that drops what arrives from chosen peers (one-way partition).
#
# Threads run client code inside a namespace with setns(2) (per thread on Linux), so the
# orchestrator keeps the root namespace. Every wait is bounded. Needs root, iproute2 and,
# for the one-way cut, nftables; skip() exits 77 (ctest SKIP_RETURN_CODE) when they are
# missing, but fail() under CI=true, where they must exist.
import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)
PREFIX = "netns"


def log(msg):
    print("[%s] %s" % (PREFIX, msg), file=sys.stderr, flush=True)


def skip(why):
    if os.environ.get("CI") == "true":
        log("FAIL: cannot run under CI: " + why)
        sys.exit(1)
    log("SKIP: " + why)
    sys.exit(SKIP)


def sh(*args, check=True, timeout=20):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def enter_ns(name):
    """Moves the calling thread into network namespace `name`."""
    fd = os.open("/var/run/netns/" + name, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + name)
    finally:
        os.close(fd)


def run_in_ns(name, fn, *args):
    """Runs fn(*args) on a thread inside namespace `name`; returns its result (or raises)."""
    out = {}

    def body():
        try:
            enter_ns(name)
            out["v"] = fn(*args)
        except BaseException as e:  # handed back to the caller
            out["e"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(120)
    if t.is_alive():
        raise RuntimeError("run_in_ns(%s) did not finish within 120 s" % name)
    if "e" in out:
        raise out["e"]
    return out.get("v")


def check_prereqs(need_nft=False):
    if os.geteuid() != 0:
        skip("needs root for network namespaces (ip netns)")
    if shutil.which("ip") is None:
        skip("iproute2 (ip) is not installed")
    if need_nft and shutil.which("nft") is None:
        skip("nftables (nft) is not installed: scripts/install-deps.sh")
    probe = "dkv%d-probe" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        skip("cannot create a network namespace: " + r.stderr.strip())
    try:
        r = subprocess.run(["ip", "-n", probe, "link", "add", "br0", "type", "bridge"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            skip("cannot create a bridge in a namespace: " + r.stderr.strip())
        if need_nft:
            r = subprocess.run(["ip", "netns", "exec", probe, "nft", "add", "table", "inet", "probe"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                skip("nftables does not work here: " + r.stderr.strip())
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)


class Net:
    """A bridge namespace, `nodes` node namespaces (10.<a>.<b>.1..) and one client namespace
    (10.<a>.<b>.100), all on bridge br0."""

    def __init__(self, nodes, subnet="10.200.0"):
        self.pid = os.getpid()
        self.subnet = subnet
        self.br = "dkv%d-br" % self.pid
        self.ns = ["dkv%d-n%d" % (self.pid, i + 1) for i in range(nodes)]
        self.client_ns = "dkv%d-cl" % self.pid
        self.made = []  # namespaces to delete
        self.procs = []  # (pid, Popen, name, stderr path)
        self.tmp = tempfile.mkdtemp(prefix="dynakv-%s-" % PREFIX)
        self.closed = False
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda s, f: sys.exit(128 + s))
        self._add_ns(self.br)
        sh("ip", "-n", self.br, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.br, "link", "add", "br1", "type", "bridge")
        sh("ip", "-n", self.br, "link", "set", "br0", "up")
        sh("ip", "-n", self.br, "link", "set", "br1", "up")
        for i, ns in enumerate(self.ns):
            self._attach(ns, self.port(i), "%s.%d" % (subnet, i + 1))
        self._attach(self.client_ns, "bcl", "%s.100" % subnet)

    def _add_ns(self, name):
        sh("ip", "netns", "add", name)
        self.made.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def _attach(self, ns, port, addr):
        self._add_ns(ns)
        sh("ip", "-n", self.br, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", self.br, "link", "set", port, "master", "br0")
        sh("ip", "-n", self.br, "link", "set", port, "up")
        sh("ip", "-n", ns, "addr", "add", addr + "/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def port(self, i):
        return "bp%d" % (i + 1)  # inside the bridge namespace only

    def addr(self, i):
        return "%s.%d" % (self.subnet, i + 1)

    # ---- faults ----------------------------------------------------------------------------
    def link(self, i, up):
        sh("ip", "-n", self.br, "link", "set", self.port(i), "up" if up else "down")

    def split(self, side):
        """Symmetric partition: the nodes in `side` move to bridge br1 (they still reach each
        other, nothing else); heal() moves them back."""
        for i in side:
            sh("ip", "-n", self.br, "link", "set", self.port(i), "master", "br1")

    def heal(self):
        for i in range(len(self.ns)):
            sh("ip", "-n", self.br, "link", "set", self.port(i), "master", "br0")
            sh("ip", "-n", self.br, "link", "set", self.port(i), "up")
            subprocess.run(["ip", "netns", "exec", self.ns[i], "nft", "delete", "table", "inet", "dkvcut"],
                           capture_output=True)

    def drop_from(self, i, peers):
        """One-way partition: node i's namespace drops every packet that comes from `peers`
        (what node i sends still arrives)."""
        srcs = ", ".join(self.addr(p) for p in peers)
        rules = ("table inet dkvcut {\n chain input {\n  type filter hook input priority 0; policy accept;\n"
                 "  ip saddr { %s } drop\n }\n}\n" % srcs)
        r = subprocess.run(["ip", "netns", "exec", self.ns[i], "nft", "-f", "-"], input=rules,
                           capture_output=True, text=True, timeout=20)
        if r.returncode != 0:
            raise RuntimeError("nft: " + r.stderr.strip())

    # ---- processes -------------------------------------------------------------------------
    def start(self, ns, argv, name):
        err = os.path.join(self.tmp, name + ".stderr.log")
        with open(err, "wb") as ef, open(os.path.join(self.tmp, name + ".stdout.log"), "wb") as of:
            p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=of, stderr=ef,
                                 stdin=subprocess.DEVNULL)
        self.procs.append((p.pid, p, name, err))  # `ip netns exec` execs: p.pid is the server
        return p

    def stop(self, p, timeout=5.0):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs = [x for x in self.procs if x[1] is not p]

    def check_alive(self):
        for _, p, name, _ in self.procs:
            if p.poll() is not None:
                raise AssertionError("%s exited (status %s)" % (name, p.returncode))

    def tails(self, lines=25):
        for _, _, name, err in self.procs:
            try:
                with open(err, errors="replace") as f:
                    t = f.readlines()[-lines:]
                print("---- %s (tail) ----\n%s" % (name, "".join(t)), file=sys.stderr)
            except OSError:
                pass

    def close(self):
        if self.closed:
            return
        self.closed = True
        for _, p, _, _ in list(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 5
        for _, p, _, _ in list(self.procs):
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs = []
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made = []
        shutil.rmtree(self.tmp, ignore_errors=True)


def node_config(tmp, node_id, addr, seeds, n=3, r=2, w=2, extra="", redis_port=6379, cluster_port=7379):
    """A node's TOML: `seeds` are hosts (port 7379) or host:port strings."""
    path = os.path.join(tmp, node_id + ".toml")
    with open(path, "w") as f:
        f.write("""[node]
id = "%(id)s"
data_dir = "%(tmp)s/data-%(id)s"
[listen]
redis = "%(addr)s:%(rp)d"
cluster = "%(addr)s:%(cp)d"
advertise_redis = "%(addr)s:%(rp)d"
[cluster]
seeds = [%(seeds)s]
gossip_interval_ms = 100
suspect_after_ms = 600
down_after_ms = 1500
request_timeout_ms = 600
anti_entropy_interval_ms = 1000
[replication]
n = %(n)d
r = %(r)d
w = %(w)d
[storage]
engine = "lmdb"
sync = "batch"
[security]
protected_mode = false
%(extra)s
""" % {"id": node_id, "tmp": tmp, "addr": addr, "n": n, "r": r, "w": w, "extra": extra,
       "rp": redis_port, "cp": cluster_port,
       "seeds": ", ".join('"%s"' % (s if ":" in s else s + ":7379") for s in seeds)})
    return path


def wait_until(fn, secs, step=0.1, what="condition"):
    deadline = time.time() + secs
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # a node still starting; retried
            last = e
        time.sleep(step)
    raise AssertionError("%s not reached within %.0f s (last: %r)" % (what, secs, last))


def port_open(host, port):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False
