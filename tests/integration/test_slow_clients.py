#!/usr/bin/python3
"""Slow clients are cut and cannot lock the agency out (issue 15 item 3): a command line has a
deadline however many bytes trickle in, DATA must keep a minimum rate, and clients from outside
can never take the slots kept for the internal networks. Real sockets against the real gateway."""
import smtplib
import socket
import time

from harness import Gateway, Sink, Workdir, check, run_tests, wait_for

SLOW = "command_timeout = 3\ndata_timeout = 3\nmin_data_rate = 1000"


def connect(gw, source="127.0.0.1"):
    s = socket.socket()
    s.bind((source, 0))
    s.settimeout(20)
    s.connect(("127.0.0.1", gw.port))
    return s, s.recv(4096)


def dribble_until_closed(s, chunks, every=0.5, limit=30):
    """Sends one chunk every `every` seconds until the server closes; (seconds, last reply)."""
    start = time.monotonic()
    s.settimeout(every)
    reply = b""
    for chunk in chunks:
        if time.monotonic() - start > limit:
            break
        try:
            s.sendall(chunk)
        except OSError:
            break
        try:
            data = s.recv(4096)
            if not data:
                break
            reply += data
        except socket.timeout:
            continue
        except OSError:
            break
    return time.monotonic() - start, reply


def forever(chunk):
    while True:
        yield chunk


def test_a_command_line_dribbled_a_byte_at_a_time_is_cut():
    w = Workdir("slow-line")
    gw = Gateway(w, smtp=SLOW).start()
    try:
        s, greeting = connect(gw)
        check(greeting.startswith(b"220"), greeting)
        took, reply = dribble_until_closed(s, forever(b"N"))
        s.close()
        check(b"421 4.4.2" in reply, f"no 421 after {took:.1f} s: {reply!r}")
        check(took < 10, f"cut after {took:.1f} s (deadline 3 s per command line)")
        check("a command line or message not complete within 3 s" in gw.log_text(), "logged")
    finally:
        gw.stop()
        w.remove()


def test_data_below_the_minimum_rate_is_cut_and_a_fast_big_message_is_not():
    w = Workdir("slow-data")
    out = Sink(w, "internet")
    gw = Gateway(w, outbound_sink=out, smtp=SLOW).start()
    try:
        s, _ = connect(gw)
        s.sendall(b"EHLO slow.example\r\nMAIL FROM:<a@agency-a.govt.nz>\r\n"
                  b"RCPT TO:<b@example.org>\r\nDATA\r\n")
        time.sleep(0.5)
        s.recv(4096)
        took, reply = dribble_until_closed(s, forever(b"slow text\r\n"))
        s.close()
        check(b"421 4.4.2" in reply, f"no 421 after {took:.1f} s: {reply!r}")
        check(took < 10, f"cut after {took:.1f} s (3 s + 1 s per 1000 bytes)")
        big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 4000  # 4 MB at loopback speed
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as c:
            c.sendmail("alice@agency-a.govt.nz", ["bob@example.org"], big)
        wait_for(lambda: out.count() == 1, what="the fast big message delivered")
    finally:
        gw.stop()
        out.stop()
        w.remove()


def test_clients_from_outside_cannot_take_the_internal_networks_slots():
    w = Workdir("fair-slots")
    out = Sink(w, "internet")
    gw = Gateway(w, outbound_sink=out, internal_networks=("127.0.0.2/32",),
                 smtp="max_connections = 12\nreserved_internal_connections = 4\n"
                      "max_connections_per_client = 100").start()
    held = []
    try:
        # The harness's readiness probe holds a slot until the gateway has read its close.
        wait_for(lambda: "connections: 0" in gw.admin("status")[1], what="no connection open")
        for _ in range(8):  # every slot outsiders may have
            s, greeting = connect(gw)
            check(greeting.startswith(b"220"), f"an outside client within its share: {greeting!r}")
            held.append(s)
        s, greeting = connect(gw)
        held.append(s)
        check(greeting.startswith(b"421"), f"the ninth outside client: {greeting!r}")
        s, greeting = connect(gw, source="127.0.0.2")
        check(greeting.startswith(b"220"), f"an internal client still gets a slot: {greeting!r}")
        s.close()
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=20, source_address=("127.0.0.2", 0)) as c:
            c.sendmail("alice@agency-a.govt.nz", ["bob@example.org"],
                       b"Subject: the agency's mail\r\n\r\ngets through\r\n")
        wait_for(lambda: out.count() == 1, what="the internal client's mail delivered")
    finally:
        for s in held:
            s.close()
        gw.stop()
        out.stop()
        w.remove()


if __name__ == "__main__":
    run_tests([test_a_command_line_dribbled_a_byte_at_a_time_is_cut,
               test_data_below_the_minimum_rate_is_cut_and_a_fast_big_message_is_not,
               test_clients_from_outside_cannot_take_the_internal_networks_slots])
