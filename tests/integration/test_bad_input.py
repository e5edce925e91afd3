#!/usr/bin/python3
"""Hostile and broken clients get clear SMTP errors; the gateway never crashes and keeps serving
everyone else: garbage bytes, 10 MB lines, 10,000 recipients, half-open connections, floods."""
import os
import random
import smtplib
import socket
import subprocess
import time

from harness import Gateway, Sink, Workdir, check, run_tests, wait_for


def recv_until(sock, token, timeout=20):
    sock.settimeout(timeout)
    data = b""
    while token not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def start(w, smtp=""):
    out = Sink(w, "internet")
    gw = Gateway(w, outbound_sink=out, smtp=smtp).start()
    return out, gw


def still_serves(gw, out, n_before):
    # Closed connections are released when the gateway's loop sees the close: retry briefly
    # rather than race it.
    deadline = time.monotonic() + 15
    while True:
        try:
            with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as s:
                s.sendmail("alice@agency-a.govt.nz", ["ok@example.org"], b"Subject: still alive\r\n\r\nyes\r\n")
            break
        except (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    wait_for(lambda: out.count() == n_before + 1, what="a normal message after the abuse")
    check(gw.alive(), "the gateway died")


def test_garbage_bytes_get_errors_and_a_close():
    w = Workdir("garbage")
    out, gw = start(w)
    try:
        rng = random.Random(7)
        with socket.create_connection(("127.0.0.1", gw.port)) as s:
            recv_until(s, b"\r\n")
            s.sendall(bytes(rng.getrandbits(8) for _ in range(200000)))
            reply = recv_until(s, b"421 ")
            check(b"500 5.5.2" in reply, reply[:200])
            check(b"421 4.7.0" in reply and b"too many errors" in reply, reply[-200:])
        still_serves(gw, out, 0)
    finally:
        gw.stop(); out.stop(); w.remove()


def test_ten_megabyte_lines_are_refused_without_harm():
    w = Workdir("longline")
    out, gw = start(w)
    try:
        with socket.create_connection(("127.0.0.1", gw.port)) as s:
            recv_until(s, b"\r\n")
            s.sendall(b"EHLO " + b"a" * (10 << 20) + b"\r\nNOOP\r\n")
            reply = recv_until(s, b"250 2.0.0 Ok")
            check(reply.count(b"500 5.5.2 Error: command line too long") == 1, reply)
            s.sendall(b"EHLO x\r\nMAIL FROM:<a@agency-a.govt.nz>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
            recv_until(s, b"354 ")
            s.sendall(b"Subject: long\r\n\r\n" + b"b" * (10 << 20) + b"\r\n.\r\n")
            reply = recv_until(s, b"\r\n", timeout=60)
            check(reply.startswith(b"552 5.3.4") or reply.startswith(b"554 5.6.0"), reply)
        still_serves(gw, out, 0)
    finally:
        gw.stop(); out.stop(); w.remove()


def test_ten_thousand_recipients_are_capped():
    w = Workdir("rcpts")
    out, gw = start(w)
    try:
        with socket.create_connection(("127.0.0.1", gw.port)) as s:
            recv_until(s, b"\r\n")
            cmds = b"EHLO x\r\nMAIL FROM:<a@agency-a.govt.nz>\r\n" + b"".join(
                b"RCPT TO:<r%d@example.org>\r\n" % i for i in range(10000)) + b"DATA\r\n"
            s.sendall(cmds)
            reply = recv_until(s, b"354 ", timeout=60)
            check(reply.count(b"250 2.1.5 Ok") == 1000, reply.count(b"250 2.1.5"))
            check(reply.count(b"452 4.5.3 Error: too many recipients") == 9000, "452 for the rest")
            s.sendall(b"Subject: many\r\n\r\nhi\r\n.\r\nQUIT\r\n")
            reply = recv_until(s, b"221 ")
            check(b"250 2.0.0 Ok: queued as" in reply, reply)
        wait_for(lambda: out.count() == 1, what="the capped message")
        first = out.messages()[0].split(b"\r\n")[0]
        check(first.count(b"@example.org") == 1000, "1000 recipients in one transaction")
        check(gw.alive(), "alive")
    finally:
        gw.stop(); out.stop(); w.remove()


def test_half_open_connections_time_out_and_do_not_block_others():
    w = Workdir("halfopen")
    out, gw = start(w, smtp="command_timeout = 2\nmax_connections_per_client = 400\n")
    try:
        idle = []
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", gw.port))
            if i % 2:
                s.sendall(b"EHLO half-a-line-and-then-nothing")  # never finishes the line
            idle.append(s)
        still_serves(gw, out, 0)
        time.sleep(3.5)
        closed = 0
        for s in idle:
            data = recv_until(s, b"421 ", timeout=5)
            if b"421 4.4.2" in data and b"timeout" in data:
                closed += 1
            s.close()
        check(closed == 300, f"{closed} of 300 idle sessions got the 421 timeout")
    finally:
        gw.stop(); out.stop(); w.remove()


def test_connection_limit_per_client():
    w = Workdir("connlimit")
    out, gw = start(w, smtp="max_connections_per_client = 5\n")
    try:
        # The harness's readiness probe was a connection too: wait until the gateway let it go.
        def open_connections():
            r = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{gw.port} )"],
                               capture_output=True, text=True)
            return len(r.stdout.splitlines())
        wait_for(lambda: open_connections() == 0, what="the probe connection released")
        conns = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(5)]
        for c in conns:
            greeting = recv_until(c, b"\r\n")
            check(greeting.startswith(b"220 "), f"first five are served: {greeting}")
        extra = socket.create_connection(("127.0.0.1", gw.port))
        reply = recv_until(extra, b"\r\n")
        check(reply.startswith(b"421 4.7.0") and b"too many connections" in reply, reply)
        extra.close()
        for c in conns:
            c.close()
        time.sleep(0.3)
        still_serves(gw, out, 0)
    finally:
        gw.stop(); out.stop(); w.remove()


if __name__ == "__main__":
    run_tests([test_garbage_bytes_get_errors_and_a_close,
               test_ten_megabyte_lines_are_refused_without_harm,
               test_ten_thousand_recipients_are_capped,
               test_half_open_connections_time_out_and_do_not_block_others,
               test_connection_limit_per_client])
