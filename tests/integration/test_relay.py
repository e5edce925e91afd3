#!/usr/bin/python3
"""seegw relays mail between real SMTP peers: swaks, Python smtplib and Postfix's smtp-source in,
aiosmtpd sinks out. Every message arrives byte-identical apart from the Received header we add."""
import email
import os
import smtplib
import ssl
import subprocess

from harness import (Gateway, Sink, Workdir, check, make_tls_cert, run_tests, strip_trace,
                     wait_for)


def test_swaks_message_is_relayed_unchanged():
    w = Workdir("swaks")
    out, local = Sink(w, "internet"), Sink(w, "internal")
    gw = Gateway(w, internal_sink=local, outbound_sink=out).start()
    try:
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{gw.port}", "--from", "alice@agency-a.govt.nz",
                            "--to", "bob@example.org", "--header", "Subject: swaks test",
                            "--body", "Hello from swaks.\n.leading dot line\n"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, f"swaks failed: {r.stdout}{r.stderr}")
        check("250 2.0.0 Ok: queued as" in r.stdout, r.stdout)
        wait_for(lambda: out.count() == 1, what="delivery to the Internet sink")
        msg = out.messages()[0]
        check(msg.startswith(b"X-Sink-Envelope: alice@agency-a.govt.nz -> bob@example.org\r\n"), msg[:200])
        body = strip_trace(msg)
        check(b"Subject: swaks test\r\n" in body, body)
        check(b"\r\n\r\nHello from swaks.\r\n.leading dot line\r\n" in body, body[-80:])
        check(local.count() == 0, "nothing for the internal server")
        wait_for(lambda: gw.queued() == 0, what="empty queue")
    finally:
        gw.stop(); out.stop(); local.stop(); w.remove()


def test_smtplib_8bit_multi_recipient_routes_by_domain():
    w = Workdir("smtplib")
    out, local = Sink(w, "internet"), Sink(w, "internal")
    gw = Gateway(w, internal_sink=local, outbound_sink=out).start()
    try:
        raw = ("From: Alice <alice@agency-a.govt.nz>\r\nTo: many\r\nSubject: =?UTF-8?B?w6nDqMOg?=\r\n"
               "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n"
               "Kia ora — tēnā koe.\r\n.\r\n..\r\n. \r\nlast line without newline").encode()
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as s:
            s.ehlo("client.agency-a.govt.nz")
            check(s.has_extn("8bitmime") and s.has_extn("pipelining") and s.has_extn("chunking"),
                  s.esmtp_features)
            refused = s.sendmail("alice@agency-a.govt.nz",
                                 ["x@example.org", "y@example.net", "carol@agency-a.govt.nz"],
                                 raw, mail_options=["BODY=8BITMIME"])
            check(refused == {}, refused)
        wait_for(lambda: out.count() == 1 and local.count() == 1, what="both deliveries")
        expected = raw + b"\r\n"  # SMTP DATA ends every message with CRLF
        for sink, rcpts in ((out, b"x@example.org,y@example.net"), (local, b"carol@agency-a.govt.nz")):
            m = sink.messages()[0]
            check(m.split(b"\r\n")[0].endswith(rcpts), m.split(b"\r\n")[0])
            check(strip_trace(m) == expected, strip_trace(m))
        received = out.messages()[0].split(b"\r\n")[1:4]
        check(received[0].startswith(b"Received: from client.agency-a.govt.nz ([127.0.0.1])"), received)
    finally:
        gw.stop(); out.stop(); local.stop(); w.remove()


def test_starttls_inbound_and_outbound():
    w = Workdir("tls")
    cert, key = make_tls_cert(w)
    out = Sink(w, "internet", tls=(cert, key))  # this sink insists on STARTTLS
    gw = Gateway(w, outbound_sink=out)
    # Rewrite the config with TLS on the listener and TLS required towards the sink.
    with open(gw.config) as f:
        text = f.read()
    text = text.replace("[spool]", f'tls_cert = "{cert}"\ntls_key = "{key}"\n[spool]')
    text = text.replace("retry_base = 1", 'retry_base = 1\ntls = "required"')
    with open(gw.config, "w") as f:
        f.write(text)
    gw.start()
    try:
        r = subprocess.run(["swaks", "--server", f"127.0.0.1:{gw.port}", "--tls", "--from",
                            "alice@agency-a.govt.nz", "--to", "bob@example.org"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0 and "queued as" in r.stdout, r.stdout + r.stderr)
        wait_for(lambda: out.count() == 1, what="TLS delivery")
        m = out.messages()[0]
        check(b"with ESMTPS id" in m and b"(using TLSv1." in m, m[:400])
        # Plain text to a TLS-required route never happens: the sink would refuse it anyway,
        # and the gateway log shows the session was encrypted.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as s:
            s.starttls(context=ctx)
            s.ehlo("again")
            check(not s.has_extn("starttls"), "STARTTLS must not be offered twice")
    finally:
        gw.stop(); out.stop(); w.remove()


def test_external_client_may_not_relay():
    w = Workdir("relaycheck")
    out, local = Sink(w, "internet"), Sink(w, "internal")
    gw = Gateway(w, internal_sink=local, outbound_sink=out, internal_networks=("10.0.0.0/8",)).start()
    try:
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as s:
            s.ehlo("outsider.example")
            s.mail("spammer@example.org")
            code, text = s.rcpt("victim@example.net")
            check(code == 554 and b"Relay access denied" in text, (code, text))
            code, _ = s.rcpt("staff@agency-a.govt.nz")
            check(code == 250, code)
            code, _ = s.data(b"Subject: inbound\r\n\r\nhello\r\n")
            check(code == 250, code)
        wait_for(lambda: local.count() == 1, what="inbound delivery")
        check(out.count() == 0, "nothing may leave for the Internet")
    finally:
        gw.stop(); out.stop(); local.stop(); w.remove()


def test_smtp_source_2000_messages_over_20_sessions_arrive_byte_identical():
    w = Workdir("load")
    out = Sink(w, "internet")
    gw = Gateway(w, outbound_sink=out).start()
    try:
        # A 10 KiB message with dots at line starts and 8-bit text; smtp-source sends it as is.
        lines = ["Subject: load test", "X-Test: byte-identical", ""]
        for i in range(130):
            lines.append((".dot " if i % 7 == 0 else "") + f"line {i:04d} " + "é" * 20 + "x" * 30)
        body_file = w.sub("message.txt")
        with open(body_file, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        with open(body_file, "rb") as f:
            # smtp-source ends each line with CRLF and then sends CRLF "." CRLF.
            expected = f.read().replace(b"\n", b"\r\n") + b"\r\n"
        r = subprocess.run(["smtp-source", "-s", "20", "-m", "2000", "-N", "-F", body_file,
                            "-f", "alice@agency-a.govt.nz", "-t", "bob@example.org",
                            f"127.0.0.1:{gw.port}"], capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, r.stdout + r.stderr)
        wait_for(lambda: out.count() >= 2000, timeout=120, what="2000 deliveries")
        msgs = out.messages()
        check(len(msgs) == 2000, f"{len(msgs)} messages arrived")
        rcpts = set()
        for m in msgs:
            rcpts.add(m.split(b"\r\n")[0])
            check(strip_trace(m) == expected, "a message changed in transit")
        check(len(rcpts) == 2000, f"only {len(rcpts)} distinct messages")
        wait_for(lambda: gw.queued() == 0, what="empty queue")
        check("status=deferred" not in gw.log_text(), "a delivery to a healthy sink was deferred")
    finally:
        gw.stop(); out.stop(); w.remove()


def test_connections_closed_after_their_message_limit_strand_no_message():
    """A relay connection that reached max_messages_per_connection says QUIT; a message that
    came for that destination meanwhile must go over another connection, not wait on the closing
    one and come back "451 no result" to be retried a minute later (bench/dataplane caught it)."""
    w = Workdir("reconnect")
    out = Sink(w, "internet")
    gw = Gateway(w, outbound_sink=out, extra="max_messages_per_connection = 2").start()
    try:
        r = subprocess.run(["smtp-source", "-s", "20", "-m", "400", "-l", "2000", "-f", "alice@agency-a.govt.nz",
                            "-t", "bob@example.org", f"127.0.0.1:{gw.port}"],
                           capture_output=True, text=True, timeout=300)
        check(r.returncode == 0, r.stdout + r.stderr)
        wait_for(lambda: out.count() >= 400, timeout=120, what="400 deliveries")
        wait_for(lambda: gw.queued() == 0, what="empty queue")
        log = gw.log_text()
        check("status=deferred" not in log,
              "\n".join(line for line in log.splitlines() if "status=deferred" in line)[:2000])
        check(log.count("status=sent") == 400, f"{log.count('status=sent')} sent")
    finally:
        gw.stop(); out.stop(); w.remove()


def test_second_gateway_on_the_same_port_refuses_to_start():
    """A gateway started twice by mistake must not silently share the port (and the mail)."""
    w = Workdir("twice")
    out = Sink(w, "internet")
    gw = Gateway(w, outbound_sink=out).start()
    twin = Gateway(w, name="twin", outbound_sink=out, port=gw.port)
    try:
        twin.start(wait=False)
        twin.proc.wait(timeout=10)
        check(twin.proc.returncode == 1, twin.proc.returncode)
        check("Address already in use" in twin.log_text(), twin.log_text())
    finally:
        twin.stop(); gw.stop(); out.stop(); w.remove()


def test_pipeline_scans_every_message():
    """rules TRG-3, OUT-2: the data plane's pipeline runs the same scanner as `seegw scan`, and
    classified mail to a non-member leaves for no one; the sender gets #1A from postmaster."""
    w = Workdir("pipeline-scan")
    out = Sink(w, "internet")
    inside = Sink(w, "inside")
    gw = Gateway(w, internal_sink=inside, outbound_sink=out).start()
    try:
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as s:
            s.sendmail("alice@agency-a.govt.nz", ["bob@example.org"],
                       b"Subject: [RESTRICTED] plan\r\n\r\nbody {seemail]\r\n")
            s.sendmail("alice@agency-a.govt.nz", ["bob@example.org"], b"Subject: lunch\r\n\r\nhi\r\n")
        wait_for(lambda: out.count() == 1 and inside.count() >= 1, what="the plain one out, #1A in")
        wait_for(lambda: gw.queued() == 0, what="an empty queue")
        check(b"Subject: lunch" in out.messages()[0], out.messages()[0][:300])
        notices = [m for m in inside.messages() if m.startswith(b"X-Sink-Envelope:  -> alice@agency-a.govt.nz") or m.startswith(b"X-Sink-Envelope: <> -> alice@agency-a.govt.nz")]
        check(len(notices) == 1, [m[:200] for m in inside.messages()])
        check(b"From: SEEMail gateway <postmaster@agency-a.govt.nz>" in notices[0], notices[0][:400])
        check(b"This message has not been delivered to ANY EXTERNAL recipients." in notices[0], notices[0])
        # The original, then the two notices (sender, admin) that quote its Subject; never "lunch".
        wait_for(lambda: inside.count() == 2, what="the admin's notice")
        lines = [l for l in gw.log_text().splitlines() if "scan: " in l]
        check(len(lines) == 3, lines)
        check("classification=RESTRICTED hits=2" in lines[0] and 'first="[RESTRICTED]" in Subject' in lines[0], lines)
    finally:
        gw.stop(); out.stop(); inside.stop(); w.remove()


if __name__ == "__main__":
    run_tests([test_swaks_message_is_relayed_unchanged,
               test_connections_closed_after_their_message_limit_strand_no_message,
               test_smtplib_8bit_multi_recipient_routes_by_domain,
               test_starttls_inbound_and_outbound,
               test_external_client_may_not_relay,
               test_pipeline_scans_every_message,
               test_second_gateway_on_the_same_port_refuses_to_start,
               test_smtp_source_2000_messages_over_20_sessions_arrive_byte_identical])
