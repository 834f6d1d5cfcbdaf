#!/usr/bin/python3
"""Plays a memcached protocol transcript against one server and prints normalised replies.

Usage: memcache_transcript.py PORT TRANSCRIPT

Transcript format: one request per line, '#' lines and blank lines ignored. Escapes:
  \\r \\n \\t \\\\ \\xNN      as in C; CRLF is appended to every request line
  {c*N}                     the character c repeated N times (long keys, big values)
  $CAS                      the last cas value the server returned (gets VALUE line or a
                            meta 'c' flag), so cas/ms C/md C can use real values
A request is followed by "mn\\r\\n" (meta no-op) and its reply is everything before the
"MN\\r\\n" that answers it, so replies never run into each other and noreply commands show
as empty. The last request should be "quit": it is sent alone and read until EOF.

Normalisations (each is a value that legitimately differs between servers):
  - cas uniques: the 5th field of "VALUE k f n CAS" and meta "c<digits>" tokens -> <CAS>
    (memcached counts up from 1; dynakv hashes the causal context)
  - positive meta TTLs "t<digits>" -> t<TTL> (memcached's clock ticks once a second, so a
    TTL may read one lower; -1 "no expiry" is kept)
  - "VERSION x" -> "VERSION <V>"
Output: for each request "> request" (shortened) then the reply lines, one per line.
"""
import re
import socket
import sys
import time


def unescape(line):
    def rep(m):
        return m.group(1) * int(m.group(2))
    line = re.sub(r"\{(.)\*(\d+)\}", rep, line)
    out = bytearray()
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            nxt = line[i + 1]
            if nxt == "r":
                out += b"\r"; i += 2; continue
            if nxt == "n":
                out += b"\n"; i += 2; continue
            if nxt == "t":
                out += b"\t"; i += 2; continue
            if nxt == "\\":
                out += b"\\"; i += 2; continue
            if nxt == "x":
                out.append(int(line[i + 2:i + 4], 16)); i += 4; continue
        out += ch.encode("latin1")
        i += 1
    return bytes(out)


def normalise(text):
    lines = text.split("\r\n")
    res = []
    for ln in lines:
        m = re.match(r"^(VALUE \S+ \d+ \d+) \d+$", ln)
        if m:
            ln = m.group(1) + " <CAS>"
        if re.match(r"^(HD|VA|EN|NS|EX|NF)( |$)", ln):
            ln = re.sub(r" c\d+", " c<CAS>", ln)
            ln = re.sub(r" t\d+", " t<TTL>", ln)
        if ln.startswith("VERSION "):
            ln = "VERSION <V>"
        res.append(ln)
    return res


def last_cas(text):
    found = None
    for ln in text.split("\r\n"):
        m = re.match(r"^VALUE \S+ \d+ \d+ (\d+)$", ln)
        if m:
            found = m.group(1)
        if re.match(r"^(HD|VA|EN|NS|EX|NF)( |$)", ln):
            m = re.search(r" c(\d+)", ln)
            if m:
                found = m.group(1)
    return found


def read_until(sock, buf, suffix, deadline, count=1):
    # `count`: how many times the suffix must have arrived (a request that is itself "mn"
    # is answered by two MN lines, which may come in separate segments).
    while not (buf.endswith(suffix) and buf.count(suffix) >= count):
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            raise SystemExit("timeout waiting for a reply; got so far: %r" % buf[-300:])
        if not chunk:
            return buf, True
        buf += chunk
    return buf, False


def main():
    port = int(sys.argv[1])
    with open(sys.argv[2], encoding="latin1") as f:
        requests = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    cas = "0"
    for req in requests:
        req_sub = req.replace("$CAS", cas)
        data = unescape(req_sub) + b"\r\n"
        shown = req if len(req) <= 70 else req[:67] + "..."
        print("> " + shown)
        deadline = time.time() + 20
        if req == "quit":
            sock.sendall(data)
            buf, closed = read_until(sock, b"", b"\x00never", deadline)
            print("  (closed)" if closed and not buf else "  unexpected: %r" % buf)
            continue
        sock.sendall(data + b"mn\r\n")
        buf, closed = read_until(sock, b"", b"MN\r\n", deadline,
                                 1 + sum(1 for l in data.split(b"\r\n") if l == b"mn"))
        if closed:
            print("  (connection closed)")
            break
        text = buf[:-4].decode("latin1")
        c = last_cas(text)
        if c is not None:
            cas = c
        if text == "":
            print("  (no reply)")
            continue
        for ln in normalise(text[:-2] if text.endswith("\r\n") else text):
            print("  " + ln)
    sock.close()


if __name__ == "__main__":
    main()
