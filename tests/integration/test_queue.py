#!/usr/bin/python3
"""The queue: retries with backoff when the next hop is down, bounces (RFC 3464) for permanent
failures and after the maximum queue lifetime, a delay notice before that, recovery of every spool
state after a restart, and corrupt spool files moved aside without stopping the gateway."""
import os
import smtplib
import subprocess

from harness import Gateway, Sink, Workdir, check, free_port, run_tests, wait_for

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def send(gw, rcpts, subject="queue test", sender="alice@agency-a.govt.nz"):
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as s:
        s.sendmail(sender, rcpts, f"Subject: {subject}\r\nFrom: {sender}\r\n\r\nbody\r\n".encode())


def test_next_hop_down_then_up_delivers_after_retry_and_restart():
    w = Workdir("retry")
    port = free_port()
    local = Sink(w, "internal")
    gw = Gateway(w, internal_sink=local, outbound_port=port)
    gw.start()
    try:
        send(gw, ["bob@example.org"])
        wait_for(lambda: len(gw.spool_files("deferred")) == 1, what="a deferred message")
        check("status=deferred" in gw.log_text() and "Connection refused" in gw.log_text(), "logged")
        gw.stop()  # the deferred message survives a restart
        gw.start()
        out = Sink(w, "internet", port=port)
        wait_for(lambda: out.count() == 1, timeout=30, what="delivery once the hop is up")
        wait_for(lambda: gw.queued() == 0, what="empty queue")
        check(local.count() == 0, "no bounce, no delay notice")
        out.stop()
    finally:
        gw.stop(); local.stop(); w.remove()


def test_permanent_failure_bounces_to_sender_and_temporary_is_retried():
    w = Workdir("bounce")
    out, local = Sink(w, "internet"), Sink(w, "internal")
    gw = Gateway(w, internal_sink=local, outbound_sink=out).start()
    try:
        send(gw, ["reject-me@example.org", "fine@example.org"], subject="partly bounced")
        wait_for(lambda: out.count() == 1 and local.count() == 1, what="delivery and bounce")
        check(out.messages()[0].split(b"\r\n")[0].endswith(b"-> fine@example.org"), "one delivered")
        dsn = local.messages()[0]
        check(dsn.startswith(b"X-Sink-Envelope: <> -> alice@agency-a.govt.nz\r\n"), dsn[:100])
        for needle in (b"multipart/report; report-type=delivery-status",
                       b"From: Mail Delivery System <postmaster@agency-a.govt.nz>",
                       b"Final-Recipient: rfc822; reject-me@example.org",
                       b"Action: failed", b"Status: 5.1.1",
                       b"Diagnostic-Code: smtp; 550 5.1.1 no such user here",
                       b"Subject: partly bounced"):
            check(needle in dsn, needle)
        # A bounce of a bounce never happens: null sender, permanent failure, no notice.
        send(gw, ["reject-again@example.org"], sender="")
        wait_for(lambda: "<> is a postmaster, a daemon or the null sender; no bounce notice" in gw.log_text(),
                 what="log")
        check(local.count() == 1, "no notice for a null sender")
        # OPS-2: nor to a postmaster or a mailer-daemon, here another agency's (loops).
        for sender in ("postmaster@agency-c.govt.nz", "MAILER-DAEMON@agency-c.govt.nz"):
            send(gw, ["reject-" + sender.split("@")[0].lower() + "@example.org"], sender=sender)
            wait_for(lambda: f"<{sender}> is a postmaster, a daemon or the null sender; no bounce notice"
                     in gw.log_text(), what="log")
        wait_for(lambda: gw.queued() == 0, what="an empty queue")
        check(local.count() == 1 and out.count() == 1, "no bounce to a postmaster or daemon")
    finally:
        gw.stop(); out.stop(); local.stop(); w.remove()


def test_a_hold_decided_in_the_seemail_stage_tells_sender_and_admin():
    """OUT-8: agency mail from a gateway that has no HSM cannot be signed: it is held (never sent
    in clear), and the sender and the administrator are told why."""
    w = Workdir("hold-notice")
    pki = os.path.join(w.path, "pki")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    snapshot = os.path.join(w.path, "policy.toml")
    with open(snapshot, "w") as f:
        f.write(f'version = 1\ntrusted_roots = ["{pki}/agency-c/ca.pem"]\ncrls = ["{pki}/agency-c/crl.pem"]\n'
                f'[[agency]]\ndomain = "agency-c.govt.nz"\ncommunity = "restricted"\n'
                f'certificate = "{pki}/certs/agency-c-dca.pem"\n')
    out, local = Sink(w, "internet"), Sink(w, "internal")
    gw = Gateway(w, internal_sink=local, outbound_sink=out, extra=f'[policy]\nsnapshot = "{snapshot}"\n').start()
    try:
        send(gw, ["carol@agency-c.govt.nz"], subject="needs a signature")
        wait_for(lambda: local.count() == 2, what="notices to the sender and the administrator")
        to = sorted(m.split(b"\r\n", 1)[0].split(b" -> ")[1] for m in local.messages())
        check(to == [b"alice@agency-a.govt.nz", b"postmaster@agency-a.govt.nz"], to)
        for m in local.messages():
            check(b"message held" in m and b"needs a signature" in m and b"no HSM is configured" in m, m[:2000])
        check(out.count() == 0, "nothing left in clear")
        check(len(gw.spool_files("hold")) == 1, "held")
    finally:
        gw.stop(); out.stop(); local.stop(); w.remove()


def test_delay_notice_then_bounce_after_queue_lifetime():
    w = Workdir("lifetime")
    out, local = Sink(w, "internet"), Sink(w, "internal")
    gw = Gateway(w, internal_sink=local, outbound_sink=out,
                 extra="delay_warning = 1\nmax_queue_lifetime = 4\n").start()
    try:
        send(gw, ["defer-always@example.org"], subject="never deliverable")
        wait_for(lambda: local.count() >= 1, timeout=20, what="delay notice")
        delay = local.messages()[0]
        check(b"Action: delayed" in delay and b"Will-Retry-Until:" in delay, delay)
        check(b"Status: 4.2.0" in delay, "status from the server's reply")
        wait_for(lambda: local.count() >= 2, timeout=30, what="final bounce")
        bounce = local.messages()[1]
        check(b"Action: failed" in bounce and b"Status: 5.2.0" in bounce, bounce)
        wait_for(lambda: gw.queued() == 0, what="message retired")
        check(local.count() == 2, "exactly one delay notice and one bounce")
    finally:
        gw.stop(); out.stop(); local.stop(); w.remove()


def test_corrupt_spool_files_are_quarantined_at_start():
    w = Workdir("corrupt")
    out = Sink(w, "internet")
    gw = Gateway(w, outbound_sink=out).start()
    gw.stop()
    try:
        for queue, name, data in (("incoming", "0000000000000A", b"garbage"),
                                  ("active", "0000000000000B", b"SEEGW-SPOOL/1\nid 0000000000000B\n"),
                                  ("deferred", "0000000000000C", b"\x00" * 100)):
            with open(os.path.join(gw.spool, queue, name), "wb") as f:
                f.write(data)
        gw.start()
        send(gw, ["bob@example.org"])
        wait_for(lambda: out.count() == 1, what="normal service")
        wait_for(lambda: len(gw.spool_files("corrupt")) == 3, what="three files quarantined")
        check(gw.log_text().count("is corrupt") == 3, gw.log_text())
    finally:
        gw.stop(); out.stop(); w.remove()


if __name__ == "__main__":
    run_tests([test_next_hop_down_then_up_delivers_after_retry_and_restart,
               test_permanent_failure_bounces_to_sender_and_temporary_is_retried,
               test_a_hold_decided_in_the_seemail_stage_tells_sender_and_admin,
               test_delay_notice_then_bounce_after_queue_lifetime,
               test_corrupt_spool_files_are_quarantined_at_start])
