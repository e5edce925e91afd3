#!/usr/bin/python3
"""Two gateways, one agency (docs/installation.md, "Two appliances for one agency").

Agency A runs two seegw gateways, A1 and A2, on one network HSM (the token served by
tools/hsm-server: both sign with the same key pair, which never leaves it) and one policy snapshot
(as one directory, replicated, gives each appliance's seegw-control the same). A's internal mail
server is Postfix, relaying to A1 with A2 as its fallback relay (smtp_fallback_relay), as an
agency's Exchange or Postfix would list both. Agency C is one gateway of its own.

A1 is killed (-9) in the middle of a stream of classified mail from A to C, with mail in its spool
(C was away for a moment): Postfix carries on through A2, and when A1 comes back its spool resumes. Every message the internal server took
arrives at C, opened and verified, at least once; what came twice is counted (a message A1 had
handed to C but not yet recorded as delivered when it died goes again: at-least-once, as SMTP)."""
import email
import os
import re
import smtplib
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import (BUILD, Gateway, HsmServer, Sink, Workdir, check, free_port, run_tests,  # noqa: E402
                     wait_for)

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
HSM_TOOL = os.path.join(BUILD, "crypto-hsm", "seegw-hsm")
AES256_CBC = "2.16.840.1.101.3.4.1.42"
MESSAGES = 120
W = {}


def make_token(w, agency):
    token = os.path.join(w.path, f"token-{agency.split('.')[0]}")
    subprocess.run([os.path.join(TOP, "tools", "make-test-hsm"), token, agency, W["pki"], HSM_TOOL], check=True,
                   stdout=subprocess.DEVNULL)
    return token


def write_snapshot(path, tokens):
    pki = W["pki"]
    with open(path, "w") as f:
        f.write("version = 1\n")
        f.write("trusted_roots = [" + ", ".join(f'"{pki}/{d.split(".")[0]}/ca.pem"' for d in tokens) + "]\n")
        f.write("crls = [" + ", ".join(f'"{pki}/{d.split(".")[0]}/crl.pem"' for d in tokens) + "]\n")
        for domain, token in tokens.items():
            f.write(f'[[agency]]\ndomain = "{domain}"\ncommunity = "restricted"\n'
                    f'certificate = "{token}/dca.pem"\ncapabilities = ["{AES256_CBC}"]\n')


def gateway(w, name, domain, hsm_section, env, routes, inside, snapshot, port=None):
    """A gateway whose agency's own mail comes in on its submission port (g.submission)."""
    route_text = "".join(f'[[route]]\ndomains = ["{d}"]\nnext_hop = "127.0.0.1:{p}"\n' for d, p in routes.items())
    extra = f'{route_text}[policy]\nsnapshot = "{snapshot}"\n{hsm_section}check_interval = 1\n'
    submission = free_port()
    g = Gateway(w, name=name, internal_sink=inside, outbound_sink=W["internet"], internal_networks=(), port=port,
                env=env, domain=domain, extra=extra, smtp=f'submission = ["127.0.0.1:{submission}"]')
    g.submission = submission
    return g


def world():
    if W:
        return W
    w = Workdir("two-gateways")
    os.chmod(w.path, 0o755)  # Postfix's daemons run as postfix inside it
    W["w"] = w
    W["pki"] = os.path.join(w.path, "pki")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), W["pki"]], check=True, stdout=subprocess.DEVNULL)
    W["internet"] = Sink(w, "internet")
    a_domain, c_domain = "agency-a.govt.nz", "agency-c.govt.nz"
    tokens = {a_domain: make_token(w, a_domain), c_domain: make_token(w, c_domain)}
    snapshot = os.path.join(w.path, "policy.toml")
    write_snapshot(snapshot, tokens)

    # C: one gateway, its token in-process.
    c_inside = Sink(w, "inside-c")
    c_section = (f'[hsm]\ntoken = "{c_domain}"\npin_file = "{tokens[c_domain]}/user.pin"\nkey_label = "dca"\n')
    c_env = dict(os.environ, SOFTHSM2_CONF=os.path.join(tokens[c_domain], "softhsm2.conf"))
    c_port = free_port()
    # A1 and A2: one HSM (served), one snapshot, each its own spool.
    hsm = HsmServer(w, tokens[a_domain], a_domain, name="hsm-a")
    a_inside = Sink(w, "inside-a")
    a_section = hsm.hsm_config(os.path.join(tokens[a_domain], "user.pin"))
    a1, a2 = (gateway(w, n, a_domain, a_section, hsm.env(), {c_domain: c_port}, a_inside, snapshot)
              for n in ("gw-a1", "gw-a2"))
    c = gateway(w, "gw-c", c_domain, c_section, c_env, {a_domain: a1.port}, c_inside, snapshot, port=c_port)
    W.update(a1=a1, a2=a2, c=c, hsm=hsm, c_inside=c_inside, a_inside=a_inside)
    for g in (a1, a2, c):
        g.start()

    # A's internal mail server: Postfix relaying to A1, A2 its fallback relay; retries quickly.
    postfix_dir, postfix_port = os.path.join(w.path, "postfix"), free_port()
    subprocess.run([os.path.join(TOP, "tools", "postfix-instance"), postfix_dir, str(postfix_port), str(a1.submission)],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["postconf", "-c", os.path.join(postfix_dir, "etc"), "-e",
                    f"smtp_fallback_relay = [127.0.0.1]:{a2.submission}", "queue_run_delay = 1s",
                    "minimal_backoff_time = 1s", "maximal_backoff_time = 2s", "smtp_connect_timeout = 5s"],
                   check=True)
    subprocess.run(["postfix", "-c", os.path.join(postfix_dir, "etc"), "reload"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    W.update(a1=a1, a2=a2, c=c, hsm=hsm, c_inside=c_inside, a_inside=a_inside, postfix=postfix_dir,
             postfix_port=postfix_port)
    return W


def arrived_ids(sink):
    """Message-IDs at C's internal side (opened and verified: the inner message's own header)."""
    ids = []
    for m in sink.messages():
        body = m.split(b"\r\n", 1)[1]
        mid = email.message_from_bytes(body).get("Message-ID")
        if mid:
            ids.append(mid.strip())
    return ids


def submit_stream(port, ids, accepted):
    for mid in ids:
        msg = (f"From: alice@agency-a.govt.nz\r\nTo: carol@agency-c.govt.nz\r\nMessage-ID: {mid}\r\n"
               f"Subject: [RESTRICTED] figures {mid}\r\n\r\n" + "budget line\r\n" * 200).encode()
        for _ in range(50):  # the internal server itself is not under test: retry its 4xx
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                    s.sendmail("alice@agency-a.govt.nz", ["carol@agency-c.govt.nz"], msg)
                accepted.append(mid)
                break
            except (smtplib.SMTPException, OSError):
                time.sleep(0.2)
        time.sleep(0.02)


def held_by(g):
    """Message-IDs of the stream in a gateway's spool (waiting to go)."""
    found = set()
    for queue in ("incoming", "active", "deferred"):
        for name in g.spool_files(queue):
            with open(os.path.join(g.spool, queue, name), "rb") as f:
                found.update(m.decode() for m in re.findall(rb"<two-gw-\d+@agency-a\.govt\.nz>", f.read()))
    return found


def test_a_gateway_killed_mid_stream_loses_nothing_and_the_other_carries_on():
    s = world()
    a1, a2, c, c_inside = s["a1"], s["a2"], s["c"], s["c_inside"]
    ids = [f"<two-gw-{i}@agency-a.govt.nz>" for i in range(MESSAGES)]
    accepted = []
    stream = threading.Thread(target=submit_stream, args=(s["postfix_port"], ids, accepted))
    stream.start()
    wait_for(lambda: len(arrived_ids(c_inside)) >= 10, timeout=120, what="the first messages at C through A1")
    # C away for a moment: A1 holds what it accepts (a 250 each) in its spool. Then A1 dies.
    c.stop()
    wait_for(lambda: len(held_by(a1)) >= 5, timeout=120, what="mail waiting in A1's spool")
    a1.kill9()
    held = held_by(a1)
    c.start()
    # The stream goes on through A2; everything but what A1 holds reaches C.
    stream.join(timeout=300)
    check(len(accepted) == MESSAGES, f"the internal server took {len(accepted)} of {MESSAGES}")
    wait_for(lambda: set(arrived_ids(c_inside)) >= set(ids) - held, timeout=300,
             what="every message not in A1's spool at C through A2")
    check(re.search(r"agency-c\.govt\.nz: signed \(SHA\d+\) and encrypted", a2.log_text()),
          "A2 secured nothing while A1 was down")
    # A message A1 had handed to C but not yet recorded as delivered is in its spool and at C:
    # that one goes twice. The rest of what it held waits for A1.
    waiting = held - set(arrived_ids(c_inside))
    check(waiting, f"nothing A1 held was still waiting for it ({len(held)} held, all arrived)")
    a1.start()  # its spool resumes
    wait_for(lambda: set(arrived_ids(c_inside)) >= set(ids), timeout=300,
             what="every message at C after A1's restart")
    got = arrived_ids(c_inside)
    print(f"{MESSAGES} messages: {len(held)} were in A1's spool when it was killed, {len(waiting)} of them "
          f"undelivered; {len(got) - len(set(got))} arrived twice", flush=True)
    check(not re.search(r"status=bounced|quarantine", a1.log_text() + a2.log_text()),
          "a message bounced or was quarantined")


def test_both_gateways_sign_with_the_one_key_in_the_hsm():
    """A1 and A2 are one agency to C: one domain certificate, one key pair, in one HSM."""
    s = world()
    for g in (s["a1"], s["a2"]):
        log = g.log_text()
        check("P11_KIT_SERVER_ADDRESS" in str(g.env) and "SOFTHSM2_CONF" not in g.env,
              f"{g.config} does not reach the token through the HSM server")
        check(re.search(r"signed \(SHA\d+\) and encrypted", log), f"{g.config} secured nothing")
    check(not re.search(r"not verified|unknown signer|hard fail", s["c"].log_text()), s["c"].log_text()[-2000:])


def teardown():
    if not W:
        return
    if "postfix" in W:
        subprocess.run([os.path.join(TOP, "tools", "postfix-instance"), "--stop", W["postfix"]])
    for part in ("a1", "a2", "c", "hsm", "internet", "c_inside", "a_inside"):
        if part in W:
            W[part].stop()
    if os.environ.get("SEEGW_KEEP") is None:
        W["w"].remove()


if __name__ == "__main__":
    if os.geteuid() != 0:  # the agency's Postfix instance runs its daemons as postfix
        print("SKIP: needs root (a Postfix instance)")
        sys.exit(77)
    try:
        run_tests([test_a_gateway_killed_mid_stream_loses_nothing_and_the_other_carries_on,
                   test_both_gateways_sign_with_the_one_key_in_the_hsm])
    finally:
        teardown()
