#!/usr/bin/python3
"""rule OPS-1: when the gateway is not operational (its HSM token is missing or unusable) incoming
and outgoing mail are suspended automatically: clients get 4xx, queued mail stays queued; when the
token is there, mail flows again without anyone touching the gateway."""
import os
import smtplib
import socket
import subprocess
import time

from harness import BUILD, Gateway, Sink, Workdir, check, free_port, run_tests, wait_for

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def banner(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return s.recv(512)


def test_missing_token_suspends_mail_until_it_appears():
    w = Workdir("ops1")
    token = os.path.join(w.path, "token")
    pki = os.path.join(w.path, "pki")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    out_port = free_port()
    env = dict(os.environ, SOFTHSM2_CONF=os.path.join(token, "softhsm2.conf"))
    hsm = (f'[hsm]\ntoken = "agency-a.govt.nz"\npin_file = "{token}/user.pin"\nkey_label = "dca"\n'
           'check_interval = 1\n')
    # First a message accepted while the gateway runs without an HSM and the next hop is down.
    gw = Gateway(w, outbound_port=out_port).start()
    out = None
    try:
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as s:
            s.sendmail("alice@agency-a.govt.nz", ["bob@example.org"], b"Subject: queued\r\n\r\nwaiting\r\n")
        wait_for(lambda: len(gw.spool_files("deferred")) == 1, what="a deferred message")
        gw.stop()
        # Now the gateway needs its HSM, and the token is not there.
        gw2 = Gateway(w, name="gw2", outbound_port=out_port, extra=hsm, env=env, port=gw.port)
        gw2.spool = gw.spool
        with open(gw2.config) as f:
            text = f.read()
        text = text.replace(os.path.join(w.path, "gw2", "spool"), gw.spool)
        with open(gw2.config, "w") as f:
            f.write(text)
        out = Sink(w, "internet", port=out_port)
        gw2.start()
        reply = banner(gw2.port)
        check(reply.startswith(b"421 4.3.2") and b"not operational" in reply, reply)
        time.sleep(3)
        check(out.count() == 0, "nothing may be sent while not operational")
        check("not operational: HSM" in gw2.log_text(), gw2.log_text()[-500:])
        # The token arrives: the gateway becomes operational by itself.
        subprocess.run([os.path.join(TOP, "tools", "make-test-hsm"), token, "agency-a.govt.nz", pki,
                        os.path.join(BUILD, "crypto-hsm", "seegw-hsm")], check=True, stdout=subprocess.DEVNULL)
        wait_for(lambda: banner(gw2.port).startswith(b"220 "), timeout=20, what="operational again")
        check("operational again" in gw2.log_text(), "the recovery is logged")
        wait_for(lambda: out.count() == 1, timeout=20, what="the queued message sent after recovery")
        with smtplib.SMTP("127.0.0.1", gw2.port, timeout=20) as s:
            s.sendmail("alice@agency-a.govt.nz", ["bob@example.org"], b"Subject: new\r\n\r\nnow\r\n")
        wait_for(lambda: out.count() == 2, what="new mail flows")
        # The token is removed while the gateway runs: it notices at the next check.
        subprocess.run(["softhsm2-util", "--delete-token", "--token", "agency-a.govt.nz"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        wait_for(lambda: banner(gw2.port).startswith(b"421 4.3.2"), timeout=20, what="not operational mid-run")
        check("HSM key cannot sign" in gw2.log_text(), gw2.log_text()[-400:])
        subprocess.run([os.path.join(TOP, "tools", "make-test-hsm"), token, "agency-a.govt.nz", pki,
                        os.path.join(BUILD, "crypto-hsm", "seegw-hsm")], check=True, stdout=subprocess.DEVNULL)
        wait_for(lambda: banner(gw2.port).startswith(b"220 "), timeout=20, what="operational with the new token")
        gw2.stop()
    finally:
        gw.stop()
        if out:
            out.stop()
        w.remove()


def test_bad_pin_file_is_a_clear_fault():
    w = Workdir("ops1-pin")
    token = os.path.join(w.path, "token")
    os.makedirs(token)
    pin = os.path.join(token, "user.pin")
    with open(pin, "w") as f:
        f.write("1234\n")
    os.chmod(pin, 0o644)
    gw = Gateway(w, extra=f'[hsm]\ntoken = "x"\npin_file = "{pin}"\n',
                 env=dict(os.environ, SOFTHSM2_CONF=os.path.join(token, "softhsm2.conf"))).start()
    try:
        check(banner(gw.port).startswith(b"421 4.3.2"), "not operational")
        check("readable by group or others" in gw.log_text(), gw.log_text()[-400:])
    finally:
        gw.stop(); w.remove()


if __name__ == "__main__":
    run_tests([test_missing_token_suspends_mail_until_it_appears, test_bad_pin_file_is_a_clear_fault])
