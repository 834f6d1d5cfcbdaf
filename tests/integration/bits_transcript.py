#!/usr/bin/python3
"""Plays a Redis command transcript against one server and prints every reply, one block per
command, so two servers' outputs can be compared with diff (tests/integration/bits_test.sh).

Usage: bits_transcript.py PORT TRANSCRIPT [--pipeline N]
       bits_transcript.py --generate SEED COUNT   (prints a random transcript; see generate())

Transcript format: one command per line; blank lines and lines starting with '#' are
skipped. Arguments are split like a shell (single or double quotes group words); inside an
argument these escapes apply:
  \\xNN \\r \\n \\t \\\\ \\" \\'      as in C (binary-safe arguments)
  {c*N}                            the character c repeated N times (long values)
A line starting with '!' is sent but its reply is not printed: for replies that legitimately
differ between servers (HELLO's server map).
With --pipeline N the commands go out N at a time before their replies are read (as a
pipelining client sends them); the output is the same, so it compares with a run one at a
time and with redis-server's.
Commands go out as RESP arrays over a raw socket, one at a time; replies are read with a
small RESP2/RESP3 parser (so HELLO 3 switches the rest of the transcript to RESP3 and maps,
nulls and the like show as such).

Output: for each command "> command line" and then the reply as redis-cli-like text
(integers, quoted bulk strings with non-printable bytes as \\xNN, errors, nested arrays);
a bulk string over 200 bytes shows its first 64 bytes, its length and its SHA-1.
No normalisation: every byte of every reply is compared.
"""
import hashlib
import random
import re
import socket
import sys


def unescape(arg):
    arg = re.sub(r"\{(.)\*(\d+)\}", lambda m: m.group(1) * int(m.group(2)), arg)
    out = bytearray()
    i = 0
    simple = {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\", '"': b'"', "'": b"'"}
    while i < len(arg):
        ch = arg[i]
        if ch == "\\" and i + 1 < len(arg):
            nxt = arg[i + 1]
            if nxt in simple:
                out += simple[nxt]
                i += 2
                continue
            if nxt == "x" and i + 3 < len(arg):
                out.append(int(arg[i + 2:i + 4], 16))
                i += 4
                continue
        out += ch.encode("latin1")
        i += 1
    return bytes(out)


def split_line(line):
    """Shell-like split that keeps backslash escapes for unescape()."""
    args, cur, quote, have = [], [], None, False
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\" and i + 1 < len(line):
                cur.append(line[i:i + 2])
                i += 2
                continue
            if ch == quote:
                quote = None
            else:
                cur.append(ch)
        elif ch in "\"'":
            quote, have = ch, True
        elif ch.isspace():
            if cur or have:
                args.append("".join(cur))
            cur, have = [], False
        elif ch == "\\" and i + 1 < len(line):
            cur.append(line[i:i + 2])
            i += 2
            continue
        else:
            cur.append(ch)
        i += 1
    if quote:
        raise ValueError("unterminated quote in: " + line)
    if cur or have:
        args.append("".join(cur))
    return [unescape(a) for a in args]


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed the connection")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        ln = self.line()
        t, rest = ln[:1], ln[1:]
        if t == b"+":
            return ("status", rest)
        if t == b"-":
            return ("error", rest)
        if t == b":":
            return ("int", int(rest))
        if t in (b"$", b"=", b"!"):
            n = int(rest)
            if n < 0:
                return ("nil",)
            return ("bulk" if t == b"$" else "verbatim" if t == b"=" else "error", self.exact(n))
        if t in (b"*", b"~", b">"):
            n = int(rest)
            if n < 0:
                return ("nil",)
            kind = {b"*": "array", b"~": "set", b">": "push"}[t]
            return (kind, [self.reply() for _ in range(n)])
        if t == b"%":
            n = int(rest)
            return ("map", [(self.reply(), self.reply()) for _ in range(n)])
        if t == b"_":
            return ("nil",)
        if t == b",":
            return ("double", rest)
        if t == b"#":
            return ("bool", rest)
        if t == b"(":
            return ("bignum", rest)
        raise ValueError("unknown RESP type byte %r" % t)


def show_bytes(b):
    if len(b) > 200:  # long values: a prefix, the length and a digest (every byte counts)
        return "%s...(%d bytes, sha1 %s)" % (show_bytes(b[:64]), len(b), hashlib.sha1(b).hexdigest())
    out = []
    for c in b:
        if c == 0x22 or c == 0x5C:
            out.append("\\" + chr(c))
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return '"' + "".join(out) + '"'


def render(r, indent=0):
    pad = "  " * indent
    k = r[0]
    if k == "status":
        return [pad + r[1].decode("latin1")]
    if k == "error":
        return [pad + "(error) " + r[1].decode("latin1")]
    if k == "int":
        return [pad + "(integer) %d" % r[1]]
    if k in ("bulk", "verbatim"):
        return [pad + ("" if k == "bulk" else "(verbatim) ") + show_bytes(r[1])]
    if k == "nil":
        return [pad + "(nil)"]
    if k in ("double", "bool", "bignum"):
        return [pad + "(%s) %s" % (k, r[1].decode("latin1"))]
    if k in ("array", "set", "push"):
        lines = [pad + "(%s of %d)" % (k, len(r[1]))]
        for e in r[1]:
            lines += render(e, indent + 1)
        return lines
    if k == "map":
        lines = [pad + "(map of %d)" % len(r[1])]
        for key, val in r[1]:
            lines += render(key, indent + 1)
            lines += render(val, indent + 2)
        return lines
    raise ValueError(k)


def generate(seed, count):
    """A random but reproducible transcript over a few keys: every bit command with random
    ranges, types, offsets, overflow modes and values, with GETs in between so the stored
    bytes are compared too."""
    rnd = random.Random(seed)
    keys = ["rk:%d" % i for i in range(5)]

    def key():
        return rnd.choice(keys)

    def idx():
        return str(rnd.choice([rnd.randint(-40, 40), rnd.randint(-3, 3), rnd.randint(0, 120)]))

    def value():
        return rnd.choice([rnd.randint(-300, 300), rnd.randint(-2**63, 2**63 - 1), 2**63 - 1,
                           -2**63, rnd.randint(0, 2**16), -1, 0, 1])

    def ftype():
        if rnd.random() < 0.02:  # now and then an invalid type, to compare the error
            return rnd.choice(["u64", "i65", "i0", "x8"])
        if rnd.random() < 0.5:
            return "i%d" % rnd.choice([1, 2, 3, 5, 8, 13, 16, 31, 32, 33, 63, 64])
        return "u%d" % rnd.choice([1, 2, 3, 5, 8, 13, 16, 31, 32, 33, 62, 63])

    def offset():
        if rnd.random() < 0.02:
            return rnd.choice(["-1", "#-1", "4294967296", "1.5"])
        return rnd.choice([str(rnd.randint(0, 100)), "#%d" % rnd.randint(0, 6)])

    def bytes_arg():
        n = rnd.randint(0, 10)
        return '"' + "".join("\\x%02x" % rnd.choice([0, 0xff, 0x0f, 0xf0, 0x55, rnd.randint(0, 255)])
                             for _ in range(n)) + '"'

    out = []
    for _ in range(count):
        c = rnd.randint(0, 13)
        if c == 0:
            out.append("set %s %s" % (key(), bytes_arg()))
        elif c == 1:
            out.append("setbit %s %d %d" % (key(), rnd.randint(0, 200), rnd.randint(0, 1)))
        elif c == 2:
            out.append("getbit %s %d" % (key(), rnd.randint(0, 250)))
        elif c == 3:
            a = ["bitcount", key()]
            r = rnd.random()
            if r < 0.05:
                a.append(idx())  # start without end: a syntax error (0 on a missing key)
            elif r < 0.85:
                a += [idx(), idx()]
                if rnd.random() < 0.6:
                    a.append(rnd.choice(["BIT", "BYTE", "bit"]))
            out.append(" ".join(a))
        elif c == 4:
            a = ["bitpos", key(), str(rnd.choice([0, 1] * 20 + [2]))]
            r = rnd.random()
            if r < 0.8:
                a.append(idx())
            if r < 0.6:
                a.append(idx())
            if r < 0.4:
                a.append(rnd.choice(["BIT", "BYTE"]))
            out.append(" ".join(a))
        elif c == 5:
            op = rnd.choice(["and", "or", "xor", "not"])
            srcs = [key()] if op == "not" else [key() for _ in range(rnd.randint(1, 4))]
            out.append("bitop %s %s %s" % (op, key(), " ".join(srcs)))
        elif c in (6, 7, 8):
            a = ["bitfield" if c != 8 else "bitfield_ro", key()]
            for _ in range(rnd.randint(1, 4)):
                r = rnd.random()
                if c != 8 and r < 0.2:
                    a += ["overflow", rnd.choice(["wrap", "sat", "fail"])]
                if c == 8 or r < 0.4:
                    a += ["get", ftype(), offset()]
                elif r < 0.7:
                    a += ["set", ftype(), offset(), str(value())]
                else:
                    a += ["incrby", ftype(), offset(), str(value())]
            out.append(" ".join(a))
        elif c == 9:
            a = ["lcs", key(), key()]
            r = rnd.random()
            if r < 0.3:
                a.append("len")
            elif r < 0.8:
                a.append("idx")
                if rnd.random() < 0.5:
                    a += ["minmatchlen", str(rnd.randint(-1, 4))]
                if rnd.random() < 0.5:
                    a.append("withmatchlen")
            out.append(" ".join(a))
        elif c == 10:
            out.append("getrange %s %s %s" % (key(), idx(), idx()))
        elif c == 11:
            out.append("setrange %s %d %s" % (key(), rnd.randint(0, 30), bytes_arg()))
        elif c == 12:
            out.append("append %s %s" % (key(), bytes_arg()))
        else:
            out.append("get %s" % key())
    return out


def main():
    if sys.argv[1] == "--generate":
        print("# generated by bits_transcript.py --generate %s %s" % (sys.argv[2], sys.argv[3]))
        print("\n".join(generate(int(sys.argv[2]), int(sys.argv[3]))))
        return
    port, path = int(sys.argv[1]), sys.argv[2]
    depth = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--pipeline" else 1
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    rd = Reader(sock)
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    batch = []  # (shown line, quiet) of the commands sent and not yet answered

    def answer():
        for shown, quiet in batch:
            print("> " + shown)
            reply = rd.reply()
            if quiet:
                print("  (reply not compared)")
                continue
            for ln in render(reply):
                print(ln)
        batch.clear()

    out = b""
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        quiet = line.startswith("!")
        if quiet:
            line = line[1:].strip()
        args = split_line(line)
        shown = line if len(line) <= 120 else line[:117] + "..."
        out += encode(args)
        batch.append((shown, quiet))
        if len(batch) >= depth:
            sock.sendall(out)
            out = b""
            answer()
    if batch:
        sock.sendall(out)
        answer()
    sock.close()

if __name__ == "__main__":
    main()
