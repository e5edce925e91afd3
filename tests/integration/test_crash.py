#!/usr/bin/python3
"""Nothing accepted is ever lost: under load, seegw-dataplane is killed with SIGKILL at random
moments and restarted; every message that got a 250 must reach the sink (at least once)."""
import random
import re
import smtplib
import threading
import time

from harness import Gateway, Sink, Workdir, check, run_tests, wait_for

KILLS = 12
SENDERS = 8


def test_kill9_under_load_loses_nothing():
    w = Workdir("crash")
    out = Sink(w, "internet")
    gw = Gateway(w, outbound_sink=out).start()
    acked, lock, stop = set(), threading.Lock(), threading.Event()
    seq = iter(range(10**9))
    seq_lock = threading.Lock()
    body = ("x" * 76 + "\r\n") * 130  # ~10 KiB

    def sender():
        conn = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", gw.port, timeout=10)
                    conn.ehlo("load.agency-a.govt.nz")
                with seq_lock:
                    n = next(seq)
                msg = f"Subject: crash test\r\nX-Seq: {n}\r\n\r\n{body}".encode()
                conn.sendmail("alice@agency-a.govt.nz", [f"r{n}@example.org"], msg)
                with lock:
                    acked.add(n)  # only after the server's 250
            except (OSError, smtplib.SMTPException):
                conn = None
                time.sleep(0.05)

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    try:
        rng = random.Random(20261122)
        for i in range(KILLS):
            time.sleep(rng.uniform(0.2, 0.9))
            gw.kill9()
            gw.start()
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        with lock:
            promised = set(acked)
        check(len(promised) > 200, f"too little load to prove anything: {len(promised)} accepted")

        def delivered():
            got = set()
            for m in out.messages():
                found = re.search(rb"\r\nX-Seq: (\d+)\r\n", m)
                if found:
                    got.add(int(found.group(1)))
            return got

        wait_for(lambda: promised <= delivered(), timeout=90,
                 what="every acknowledged message at the sink")
        got = delivered()
        print(f"  {len(promised)} acknowledged, {len(got)} distinct delivered, "
              f"{out.count() - len(got)} duplicates, {KILLS} kills")
        check(promised <= got, f"lost: {sorted(promised - got)[:20]}")
        wait_for(lambda: gw.queued() == 0, timeout=60, what="queue drained")
        check(not gw.spool_files("corrupt"), "a crash must never corrupt the spool")
    finally:
        stop.set()
        gw.stop(); out.stop(); w.remove()


if __name__ == "__main__":
    run_tests([test_kill9_under_load_loses_nothing])
