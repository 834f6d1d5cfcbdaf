"""Helpers the benchmark scripts in tests/bench share: ports, redis-cli, bulk loads."""

import socket
import subprocess


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cli(port, *args, timeout=60):
    """One redis-cli command; its output, stripped."""
    return subprocess.run(["redis-cli", "-p", str(port)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout).stdout.strip()


def pipe_set(port, first, count, key_fmt, value):
    """SET key_fmt % n to `value` (bytes) for n in [first, first + count), through one
    `redis-cli --pipe` stream; raises unless every reply was OK."""
    p = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    klen = len(key_fmt % 0)
    head = b"*3\r\n$3\r\nSET\r\n$%d\r\n" % klen
    tail = b"\r\n$%d\r\n" % len(value) + value + b"\r\n"
    chunk = 100000
    for base in range(first, first + count, chunk):
        p.stdin.write(b"".join(head + key_fmt % n + tail
                               for n in range(base, min(first + count, base + chunk))))
    p.stdin.close()
    out = p.stdout.read().decode(errors="replace")
    p.wait()
    if "errors: 0" not in out:
        raise RuntimeError("load failed: " + out[-300:])
