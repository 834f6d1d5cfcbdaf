#!/usr/bin/python3
# tests/integration/pubsub_redispy_test.py: redis-py's PubSub (RESP2; Debian's python3-redis,
# run with /usr/bin/python3) against one real dynakv node: subscribe / psubscribe with their
# counts, PUBLISH receiver counts, PUBSUB CHANNELS / NUMSUB / NUMPAT, message order, PING in
# the subscribed context, the RESP2 restriction error, unsubscribe, a listener thread; and
# redis-cli -3 (RESP3 push frames) as a subscriber.
# Usage: pubsub_redispy_test.py <dynakv-server binary>
# Starts the server on a free port with a temp dir and always stops it by PID; every wait is
# bounded. Exits non-zero on the first failed check.
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import redis


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def next_message(p, timeout=5.0):
    """The next message (subscribe confirmations included), waiting at most `timeout`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = p.get_message(timeout=0.1)
        if m is not None:
            return m
    return None


def run(port):
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    check(r.ping(), "ping")
    p = r.pubsub()
    p.subscribe("c1", "c2")
    check(next_message(p) == {"type": "subscribe", "pattern": None, "channel": b"c1", "data": 1}, "subscribe c1")
    check(next_message(p) == {"type": "subscribe", "pattern": None, "channel": b"c2", "data": 2}, "subscribe c2")
    p.psubscribe("c*")
    check(next_message(p) == {"type": "psubscribe", "pattern": None, "channel": b"c*", "data": 3}, "psubscribe")

    check(r.publish("c1", "hello") == 2, "publish count: channel + pattern")
    check(next_message(p) == {"type": "message", "pattern": None, "channel": b"c1", "data": b"hello"}, "message")
    check(next_message(p) == {"type": "pmessage", "pattern": b"c*", "channel": b"c1", "data": b"hello"},
          "pmessage")
    check(r.publish("nobody", "x") == 0, "publish to nobody")

    check(sorted(r.pubsub_channels()) == [b"c1", b"c2"], "PUBSUB CHANNELS")
    check(r.pubsub_channels("c2*") == [b"c2"], "PUBSUB CHANNELS pattern")
    check(r.pubsub_numsub("c1", "zz") == [(b"c1", 1), (b"zz", 0)], "PUBSUB NUMSUB")
    check(r.pubsub_numpat() == 1, "PUBSUB NUMPAT")

    # Order: many messages, mixed channels, arrive as published.
    for i in range(500):
        r.publish("c2", "m%d" % i)
    for i in range(500):
        m = next_message(p)
        check(m is not None and m["type"] == "message" and m["data"] == b"m%d" % i, "message %d in order: %r" % (i, m))
        m = next_message(p)
        check(m is not None and m["type"] == "pmessage" and m["data"] == b"m%d" % i, "pmessage %d in order" % i)

    # PING in the subscribed context: ["pong", msg].
    p.ping("hi")
    m = next_message(p)
    check(m == {"type": "pong", "pattern": None, "channel": None, "data": b"hi"},
          "ping in subscribed context: %r" % (m,))

    # Any other command is refused on RESP2, with Redis's text.
    p.execute_command("GET", "k")
    try:
        next_message(p)
        raise AssertionError("GET in subscribed context was not refused")
    except redis.ResponseError as e:
        check(str(e) == "Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
                        "RESET are allowed in this context", "restriction error text: %s" % e)

    p.unsubscribe("c1")
    check(next_message(p) == {"type": "unsubscribe", "pattern": None, "channel": b"c1", "data": 2}, "unsubscribe c1")
    p.punsubscribe()
    check(next_message(p) == {"type": "punsubscribe", "pattern": None, "channel": b"c*", "data": 1}, "punsubscribe")
    p.unsubscribe()
    check(next_message(p) == {"type": "unsubscribe", "pattern": None, "channel": b"c2", "data": 0}, "unsubscribe all")
    check(r.publish("c2", "x") == 0, "nobody left")
    check(r.pubsub_numpat() == 0 and r.pubsub_channels() == [], "registry empty")
    p.close()

    # A listener thread (run_in_thread) with handlers, as applications use it.
    got = []
    done = threading.Event()

    def handler(msg):
        got.append(msg["data"])
        if len(got) == 100:
            done.set()

    p2 = r.pubsub(ignore_subscribe_messages=True)
    p2.subscribe(**{"events": handler})
    t = p2.run_in_thread(sleep_time=0.01, daemon=True)
    try:
        deadline = time.time() + 5
        while r.pubsub_numsub("events")[0][1] != 1 and time.time() < deadline:
            time.sleep(0.01)
        for i in range(100):
            check(r.publish("events", str(i)) == 1, "publish to the listener")
        check(done.wait(10), "listener got %d of 100" % len(got))
        check(got == [str(i).encode() for i in range(100)], "listener order")
    finally:
        t.stop()
        t.join(timeout=5)
        p2.close()
    # Its connection closed: the subscription is gone.
    deadline = time.time() + 5
    while r.pubsub_numsub("events")[0][1] != 0 and time.time() < deadline:
        time.sleep(0.02)
    check(r.pubsub_numsub("events") == [(b"events", 0)], "closed listener dropped its subscription")


def run_redis_cli_resp3(port):
    """redis-cli -3 (RESP3: push frames) subscribed while redis-py publishes."""
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    cli = subprocess.Popen(["redis-cli", "-3", "-p", str(port), "SUBSCRIBE", "resp3ch"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 5
        while r.pubsub_numsub("resp3ch")[0][1] != 1 and time.time() < deadline:
            time.sleep(0.02)
        check(r.publish("resp3ch", "pushed over resp3") == 1, "publish to redis-cli -3")
        want = b"subscribe\nresp3ch\n1\nmessage\nresp3ch\npushed over resp3\n"
        got = b""
        deadline = time.time() + 5
        os.set_blocking(cli.stdout.fileno(), False)
        while not got.endswith(want) and time.time() < deadline:
            chunk = cli.stdout.read()
            if chunk:
                got += chunk
            else:
                time.sleep(0.02)
        check(got.endswith(want), "redis-cli -3 printed %r" % got)
    finally:
        cli.kill()
        cli.wait(timeout=5)


def main():
    if len(sys.argv) != 2:
        print("usage: pubsub_redispy_test.py <dynakv-server>", file=sys.stderr)
        return 2
    server_bin = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="dynakv-pubsub-py-")
    port = free_port()
    conf = os.path.join(tmp, "dynakv.toml")
    with open(conf, "w") as f:
        f.write('[node]\nid = "pspy"\ndata_dir = "%s/data"\n[listen]\nredis = "127.0.0.1:%d"\n'
                'memcache = ""\ncluster = ""\n' % (tmp, port))
    log = open(os.path.join(tmp, "stderr.log"), "w")
    proc = subprocess.Popen([server_bin, "--config", conf], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError("server did not start")
                time.sleep(0.05)
        run(port)
        run_redis_cli_resp3(port)
        check(proc.poll() is None, "server still running")
        print("[pubsub_redispy] PASS")
        return 0
    except Exception as e:  # report with the server's log
        print("[pubsub_redispy] FAIL: %s" % e, file=sys.stderr)
        log.flush()
        with open(os.path.join(tmp, "stderr.log")) as f:
            print(f.read()[-3000:], file=sys.stderr)
        return 1
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
