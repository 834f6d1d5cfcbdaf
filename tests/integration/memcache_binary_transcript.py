#!/usr/bin/python3
"""tests/integration/memcache_binary_transcript.py: plays scripted memcached BINARY protocol
sessions against a server and prints every response, normalised, so that the output of a real
`memcached` and of dynakv can be diffed (tests/integration/memcache_binary_test.sh).

Usage: memcache_binary_transcript.py <port>

Each group runs on its own connection. `call` sends one or more requests (pipelined) followed
by a noop with a sentinel opaque, and reads until that noop answers or the server closes the
connection (bounded: 5 s per call). Normalisations, each because the value is not comparable:
  - cas values are printed as "cas" (non-zero) or "0": dynakv's cas is a hash of the causal
    context, memcached's a counter;
  - the version string is printed as "<version>".
The cas a group uses is the one the server returned, so cas semantics are compared exactly.
"""
import socket
import struct
import sys
import time

HDR = ">BBHBBHIIQ"
NAMES = {0x00: "get", 0x01: "set", 0x02: "add", 0x03: "replace", 0x04: "delete", 0x05: "incr",
         0x06: "decr", 0x07: "quit", 0x08: "flush", 0x09: "getq", 0x0a: "noop", 0x0b: "version",
         0x0c: "getk", 0x0d: "getkq", 0x0e: "append", 0x0f: "prepend", 0x10: "stat", 0x11: "setq",
         0x12: "addq", 0x13: "replaceq", 0x14: "deleteq", 0x15: "incrq", 0x16: "decrq",
         0x17: "quitq", 0x18: "flushq", 0x19: "appendq", 0x1a: "prependq", 0x1c: "touch",
         0x1d: "gat", 0x1e: "gatq", 0x20: "sasl_list", 0x21: "sasl_auth", 0x23: "gatk",
         0x24: "gatkq"}
SENTINEL = 0x5E5E5E5E


def req(op, key=b"", extras=b"", value=b"", cas=0, opaque=0, magic=0x80, bodylen=None):
    bl = len(key) + len(extras) + len(value) if bodylen is None else bodylen
    return struct.pack(HDR, magic, op, len(key), len(extras), 0, 0, bl, opaque, cas) + extras + key + value


def store_x(flags=0, exptime=0):
    return struct.pack(">II", flags, exptime)


def arith_x(delta, initial, exptime=0):
    return struct.pack(">QQI", delta, initial, exptime)


def exp_x(exptime):
    return struct.pack(">I", exptime)


class Conn:
    def __init__(self, port, name):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.closed = False
        print(f"## {name}")

    def _read_response(self, deadline):
        while True:
            if len(self.buf) >= 24:
                bl = struct.unpack(HDR, self.buf[:24])[6]
                if len(self.buf) >= 24 + bl:
                    h = struct.unpack(HDR, self.buf[:24])
                    body = self.buf[24:24 + bl]
                    self.buf = self.buf[24 + bl:]
                    return h, body
            if time.time() > deadline:
                raise TimeoutError("no response within 5 s")
            try:
                chunk = self.s.recv(1 << 20)
            except (ConnectionResetError, socket.timeout):
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self.buf += chunk

    def call(self, *reqs, label=None, sentinel=True):
        """Sends reqs (+ a sentinel noop), prints and returns the responses before it."""
        names = [NAMES.get(r[1], hex(r[1])) for r in reqs]
        print("> " + (label or " ".join(names)))
        data = b"".join(reqs) + (req(0x0a, opaque=SENTINEL) if sentinel else b"")
        try:
            self.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = []
        deadline = time.time() + 5
        while not self.closed:
            r = self._read_response(deadline)
            if r is None:
                break
            h, body = r
            if h[1] == 0x0a and h[7] == SENTINEL:
                break
            out.append(r)
            magic, op, kl, el, _, status, _, opaque, cas = h
            extras, key, value = body[:el], body[el:el + kl], body[el + kl:]
            if op == 0x0b and status == 0:
                value = b"<version>"
            if len(value) > 64:
                value = b"<%d bytes: %s...>" % (len(value), value[:8])
            print(f"  < {NAMES.get(op, hex(op))} magic={magic:#x} status={status:#x} opaque={opaque:#x} "
                  f"cas={'cas' if cas else '0'} extras={extras.hex()} key={key!r} value={value!r}")
        if self.closed:
            print("  (closed)")
        return out

    def close(self):
        self.s.close()


def main():
    port = int(sys.argv[1])

    c = Conn(port, "flush")
    c.call(req(0x08))
    c.call(req(0x18, opaque=2))
    c.call(req(0x08, extras=exp_x(0), opaque=3))
    c.close()

    c = Conn(port, "get family")
    c.call(req(0x00, b"b:a", opaque=1))
    c.call(req(0x0c, b"b:a", opaque=2))
    c.call(req(0x09, b"b:a", opaque=3), req(0x0d, b"b:a", opaque=4))
    c.call(req(0x01, b"b:a", store_x(0xCAFE, 0), b"hello", opaque=5))
    c.call(req(0x00, b"b:a", opaque=6))
    c.call(req(0x0c, b"b:a", opaque=7))
    c.call(req(0x09, b"b:a", opaque=8))
    c.call(req(0x0d, b"b:a", opaque=9), req(0x0d, b"b:missing", opaque=10), req(0x09, b"b:a", opaque=11))
    c.call(req(0x01, b"b:empty", store_x(0, 0), b"", opaque=12), req(0x00, b"b:empty", opaque=13))
    big = bytes(range(256)) * 400  # 100 KB, arrives in several reads
    c.call(req(0x01, b"b:big", store_x(7, 0), big, opaque=14), req(0x00, b"b:big", opaque=15))
    c.close()

    c = Conn(port, "add replace")
    c.call(req(0x02, b"b:r", store_x(1, 0), b"one", opaque=1))
    c.call(req(0x02, b"b:r", store_x(1, 0), b"two", opaque=2))
    c.call(req(0x12, b"b:r", store_x(1, 0), b"three", opaque=3))
    c.call(req(0x12, b"b:r2", store_x(1, 0), b"quiet", opaque=4))
    c.call(req(0x03, b"b:nope", store_x(1, 0), b"x", opaque=5))
    c.call(req(0x13, b"b:nope", store_x(1, 0), b"x", opaque=6))
    c.call(req(0x03, b"b:r", store_x(9, 0), b"replaced", opaque=7), req(0x13, b"b:r2", store_x(3, 0), b"rq", opaque=8))
    c.call(req(0x00, b"b:r", opaque=9), req(0x00, b"b:r2", opaque=10))
    c.close()

    c = Conn(port, "append prepend")
    c.call(req(0x0e, b"b:ap", b"", b"x", opaque=1))
    c.call(req(0x0f, b"b:ap", b"", b"x", opaque=2))
    c.call(req(0x19, b"b:ap", b"", b"x", opaque=3))
    c.call(req(0x01, b"b:ap", store_x(42, 0), b"mid", opaque=4))
    c.call(req(0x0e, b"b:ap", b"", b"-end", opaque=5), req(0x0f, b"b:ap", b"", b"start-", opaque=6))
    c.call(req(0x19, b"b:ap", b"", b"!", opaque=7), req(0x1a, b"b:ap", b"", b"!", opaque=8))
    c.call(req(0x00, b"b:ap", opaque=9))
    c.close()

    c = Conn(port, "delete")
    c.call(req(0x01, b"b:d", store_x(), b"v", opaque=1), req(0x01, b"b:d2", store_x(), b"v", opaque=2))
    c.call(req(0x04, b"b:d", opaque=3))
    c.call(req(0x04, b"b:d", opaque=4))
    c.call(req(0x14, b"b:d2", opaque=5))
    c.call(req(0x14, b"b:d2", opaque=6))
    c.call(req(0x00, b"b:d2", opaque=7))
    c.close()

    c = Conn(port, "incr decr")
    c.call(req(0x05, b"b:n", arith_x(1, 10, 0xffffffff), opaque=1))
    c.call(req(0x06, b"b:n", arith_x(1, 10, 0xffffffff), opaque=2))
    c.call(req(0x05, b"b:n", arith_x(1, 10, 0), opaque=3))
    c.call(req(0x05, b"b:n", arith_x(5, 10, 0), opaque=4))
    c.call(req(0x06, b"b:n", arith_x(3, 10, 0), opaque=5))
    c.call(req(0x06, b"b:n", arith_x(100, 10, 0), opaque=6))
    c.call(req(0x15, b"b:n", arith_x(7, 0, 0), opaque=7), req(0x16, b"b:n", arith_x(2, 0, 0), opaque=8))
    c.call(req(0x05, b"b:n", arith_x(0, 0, 0), opaque=9))
    # (no get after a decr that shortens the number: memcached pads it with spaces, dynakv
    # does not; see server/memcache.cc)
    c.call(req(0x16, b"b:n2", arith_x(1, 99, 0), opaque=10), req(0x00, b"b:n2", opaque=11))
    c.call(req(0x15, b"b:n3", arith_x(1, 5, 0xffffffff), opaque=12))
    c.call(req(0x01, b"b:txt", store_x(), b"abc", opaque=13), req(0x05, b"b:txt", arith_x(1, 0, 0), opaque=14))
    c.call(req(0x16, b"b:txt", arith_x(1, 0, 0), opaque=15))
    c.close()

    c = Conn(port, "touch gat")
    c.call(req(0x01, b"b:t", store_x(5, 0), b"hello", opaque=1))
    c.call(req(0x1c, b"b:t", exp_x(100), opaque=2))
    c.call(req(0x1c, b"b:none", exp_x(100), opaque=3))
    c.call(req(0x1d, b"b:t", exp_x(100), opaque=4))
    c.call(req(0x1d, b"b:none", exp_x(100), opaque=5))
    c.call(req(0x1e, b"b:t", exp_x(0), opaque=6), req(0x1e, b"b:none", exp_x(0), opaque=7))
    c.call(req(0x23, b"b:t", exp_x(0), opaque=8), req(0x23, b"b:none", exp_x(0), opaque=9))
    c.call(req(0x24, b"b:t", exp_x(0), opaque=10), req(0x24, b"b:none", exp_x(0), opaque=11))
    c.close()

    c = Conn(port, "cas")
    c.call(req(0x01, b"b:c", store_x(), b"v1", opaque=1))
    cas = c.call(req(0x00, b"b:c", opaque=2))[0][0][8]
    wrong = cas ^ 0x8000000000000000
    c.call(req(0x01, b"b:c", store_x(), b"v2", cas=wrong, opaque=3), label="set with a wrong cas")
    c.call(req(0x01, b"b:c", store_x(), b"v3", cas=cas, opaque=4), label="set with the cas from get")
    c.call(req(0x01, b"b:c", store_x(), b"v4", cas=cas, opaque=5), label="set with the now stale cas")
    c.call(req(0x00, b"b:c", opaque=6))
    c.call(req(0x01, b"b:cnone", store_x(), b"v", cas=cas, opaque=7), label="set with a cas on a missing key")
    # (no add with a cas: memcached 1.6.18 stores it over an existing key whatever the cas)
    cas = c.call(req(0x00, b"b:c", opaque=9))[0][0][8]
    wrong = cas ^ 0x8000000000000000  # (memcached's next cas could be cas + 1)
    c.call(req(0x04, b"b:c", cas=wrong, opaque=10), label="delete with a wrong cas")
    c.call(req(0x04, b"b:c", cas=cas, opaque=11), label="delete with the cas from get")
    c.call(req(0x00, b"b:c", opaque=12))
    c.close()

    c = Conn(port, "quiet pipeline")
    c.call(req(0x11, b"b:q1", store_x(1, 0), b"a", opaque=1), req(0x11, b"b:q2", store_x(2, 0), b"b", opaque=2),
           req(0x12, b"b:q1", store_x(), b"x", opaque=3), req(0x0d, b"b:q1", opaque=4),
           req(0x0d, b"b:qmiss", opaque=5), req(0x0d, b"b:q2", opaque=6), req(0x09, b"b:qmiss", opaque=7),
           req(0x14, b"b:q1", opaque=8), req(0x14, b"b:q1", opaque=9), req(0x0a, opaque=10),
           req(0x0d, b"b:q1", opaque=11))
    c.close()

    c = Conn(port, "version noop stat")
    c.call(req(0x0b, opaque=1))
    c.call(req(0x0a, opaque=2))
    c.call(req(0x10, b"reset", opaque=3))
    c.call(req(0x10, b"bogus", opaque=4))
    c.call(req(0x20, opaque=5), label="sasl list mechs (no SASL configured)")
    c.call(req(0x21, b"PLAIN", b"", b"\0u\0p", opaque=6), label="sasl auth (no SASL configured)")
    c.close()

    c = Conn(port, "unknown opcode")
    # Body without a key: memcached 1.6.18 skips too much after an unknown opcode that has a
    # key or extras (the next request is lost), dynakv skips exactly the body.
    c.call(req(0x50, b"", b"", b"vv", opaque=1), req(0x51, opaque=2))
    c.close()

    c = Conn(port, "too large")
    c.call(req(0x01, b"b:tl", store_x(), b"old", opaque=1))
    c.call(req(0x01, b"b:tl", store_x(), b"x" * (1024 * 1024 + 10), opaque=2), label="set 1 MB + 10")
    c.call(req(0x00, b"b:tl", opaque=3), label="get: the old value is gone")
    c.call(req(0x11, b"b:tl", store_x(), b"x" * (1024 * 1024 + 10), opaque=4), label="setq 1 MB + 10")
    c.call(req(0x01, b"b:tl", store_x(), b"new", opaque=5), req(0x0e, b"b:tl", b"", b"y" * (1024 * 1024 + 10), opaque=6),
           label="set; append 1 MB + 10")
    c.call(req(0x00, b"b:tl", opaque=7))
    c.close()

    c = Conn(port, "huge declared body on a set")
    c.call(req(0x01, b"k", store_x(), b"", opaque=1, bodylen=0xFFFFFFF0) + b"partial", sentinel=False,
           label="set declaring 4 GB")
    c.close()

    for name, data in [
        ("key over 250 bytes", req(0x00, b"k" * 251, opaque=1)),
        ("get with extras", req(0x00, b"k", b"xxxx", opaque=1)),
        ("set with 4 bytes of extras", req(0x01, b"k", b"xxxx", b"v", opaque=1)),
        ("set without a key", req(0x01, b"", store_x(), b"v", opaque=1)),
        ("incr with 8 bytes of extras", req(0x05, b"k", b"x" * 8, opaque=1)),
        ("delete with extras", req(0x04, b"k", b"xxxx", opaque=1)),
        ("noop with a key", req(0x0a, b"k", opaque=1)),
        ("flushq with a key", req(0x18, b"k", opaque=1)),
        ("get declaring a huge body", req(0x00, b"k", opaque=1, bodylen=0xFFFFFFF0)),
        ("body shorter than key + extras", req(0x00, b"abc", opaque=1, bodylen=1)),
        ("bad magic after a good request", req(0x0a, opaque=1) + req(0x0a, opaque=2, magic=0x81)),
        ("quit", req(0x07, opaque=1)),
        ("quitq", req(0x17, opaque=1)),
    ]:
        c = Conn(port, name)
        c.call(data, label=name)
        c.close()


if __name__ == "__main__":
    main()
