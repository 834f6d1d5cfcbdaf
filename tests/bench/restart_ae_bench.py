#!/usr/bin/env python3
"""Anti-entropy after a restart (issue #12): how long a restarted replica takes to finish
its first Merkle round, after a clean stop (SIGTERM: the partition hashes are saved and the
next start keeps them) and after a crash (SIGKILL: the whole store is hashed again).

A 2-node cluster (N=2, the repair_bench.py setup: periodic anti-entropy off, `DYNAMO SYNC`
starts rounds): --keys 100-byte values are loaded through node 1, both nodes build their
trees and agree once; then node 2 is stopped each way and started again, `DYNAMO SYNC` is
sent at once, and the time to its first completed round (INFO dynamo `ae_rounds`) and the
records it hashed first (`ae_records_hashed`) are printed. Not a test.
"""

import argparse
import json
import shutil
import signal
import time

from benchutil import cli, pipe_set
from repair_bench import KEY, VALUE, info_dynamo, two_nodes, wait_members_up


def first_round(node, timeout=600):
    """DYNAMO SYNC on a node that just started; seconds until its first round completes."""
    t0 = time.time()
    cli(node.port, "DYNAMO", "SYNC")
    end = t0 + timeout
    while time.time() < end:
        if info_dynamo(node.port).get("ae_rounds", 0) >= 1:
            return time.time() - t0
        time.sleep(0.02)
    raise RuntimeError("no anti-entropy round within %d s" % timeout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    work, a, b = two_nodes("dynakv-restart-ae-")
    row = {"keys": args.keys}
    try:
        a.start()
        b.start()
        wait_members_up(a, 2)
        pipe_set(a.port, 0, args.keys, KEY, VALUE)
        end = time.time() + 120
        while int(cli(b.port, "DBSIZE") or 0) < args.keys and time.time() < end:
            time.sleep(0.2)
        row["first_build_s"] = round(first_round(b), 2)  # both build their trees
        for mode, sig in (("clean", signal.SIGTERM), ("crash", signal.SIGKILL)):
            b.proc.send_signal(sig)
            b.proc.wait(timeout=120)
            b.proc = None
            b.start()
            wait_members_up(b, 2)
            row[mode + "_first_round_s"] = round(first_round(b), 2)
            row[mode + "_records_hashed"] = info_dynamo(b.port).get("ae_records_hashed", 0)
            print("%-5s restart: first round after %6.2f s, %9d records hashed"
                  % (mode, row[mode + "_first_round_s"], row[mode + "_records_hashed"]))
        if row["crash_first_round_s"] > 0:
            row["crash_over_clean"] = round(row["crash_first_round_s"] / max(row["clean_first_round_s"], 1e-3), 1)
            print("crash / clean: %.1fx" % row["crash_over_clean"])
        if args.json:
            with open(args.json, "w") as f:
                json.dump(row, f, indent=1)
    finally:
        for n in (a, b):
            if n.proc:
                n.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
