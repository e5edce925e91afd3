#!/usr/bin/python3
"""Three SEEMail agencies on one machine, end to end (rules OUT-1..8, IN-1..6, OPS-1..3, TRG-2).

agency-a.govt.nz (Restricted community), agency-b.govt.nz (Standard), agency-c.govt.nz (Restricted):
three seegw-dataplane instances on loopback, each with its own SoftHSM2 token (key made inside it),
spool, policy snapshot and internal mail sink, plus one "Internet" sink for everyone else; C's token
is served from a process of its own (tools/hsm-server, as a network HSM), A's and B's are loaded
into the gateway. Users
submit on each gateway's submission port; gateways talk to each other on their MX ports. The hop
from A to C runs through a recording proxy so the test can read exactly what went over the wire."""
import base64
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import threading
import time
from email import message_from_bytes

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import (BUILD, Gateway, HsmServer, Sink, Workdir, check, free_port, run_tests, serve_connections,  # noqa
                     strip_trace, wait_for)

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
HSM_TOOL = os.path.join(BUILD, "crypto-hsm", "seegw-hsm")
CORPUS = os.environ.get("SEEGW_SCAN_CORPUS", os.path.join(BUILD, "scan-corpus"))
AES256_CBC = "2.16.840.1.101.3.4.1.42"
W = {}


class RecordingProxy:
    """A TCP relay that keeps every byte the client sent: the 'wire' between two gateways."""

    def __init__(self, target_port):
        self.port = free_port()
        self.target = target_port
        self.sent = bytearray()
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        serve_connections(self.sock, self.relay)

    def relay(self, c):
        u = socket.create_connection(("127.0.0.1", self.target))
        threading.Thread(target=self.pump, args=(c, u, True), daemon=True).start()
        self.pump(u, c, False)

    def pump(self, src, dst, record):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                if record:
                    with self.lock:
                        self.sent += b
                dst.sendall(b)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def wire(self):
        with self.lock:
            return bytes(self.sent)


def openssl(*args, **kw):
    return subprocess.run(["openssl", *args], check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def issue(pki, ca, name, email, *dates):
    """A certificate for `email` under the test CA `ca` (its key in a file: a test peer)."""
    d = os.path.join(pki, ca)
    key, csr, cert, ext = (os.path.join(pki, "certs", name + s) for s in (".key", ".csr", ".pem", ".ext"))
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", f"/CN=domain-confidentiality-authority/O={name}")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                f"subjectAltName=email:{email}\n")
    openssl("ca", "-batch", "-config", os.path.join(d, "ca.cnf"), "-cert", os.path.join(d, "ca.pem"),
            "-keyfile", os.path.join(d, "ca.key"), "-in", csr, "-out", cert, "-extfile", ext, "-notext",
            *(dates or ("-days", "365")))
    return cert, key


class Agency:
    def __init__(self, w, letter, community, internet, remote_hsm=False):
        self.domain = f"agency-{letter}.govt.nz"
        self.letter = letter
        self.community = community
        self.token = os.path.join(w.path, f"token-{letter}")
        subprocess.run([os.path.join(TOP, "tools", "make-test-hsm"), self.token, self.domain, W["pki"], HSM_TOOL],
                       check=True, stdout=subprocess.DEVNULL)
        self.inside = Sink(w, f"inside-{letter}")
        self.internet = internet
        self.mx = free_port()
        self.submission = free_port()
        self.snapshot = os.path.join(w.path, f"policy-{letter}.toml")
        pin_file = os.path.join(self.token, "user.pin")
        if remote_hsm:
            self.hsm = HsmServer(w, self.token, self.domain, name=f"hsm-{letter}")
            self.env = self.hsm.env()
            self.hsm_section = self.hsm.hsm_config(pin_file)
        else:
            self.hsm = None
            self.env = dict(os.environ, SOFTHSM2_CONF=os.path.join(self.token, "softhsm2.conf"))
            self.hsm_section = f'[hsm]\ntoken = "{self.domain}"\npin_file = "{pin_file}"\nkey_label = "dca"\n'

    def configure(self, w, routes):
        route_text = "".join(f'[[route]]\ndomains = ["{d}"]\nnext_hop = "127.0.0.1:{p}"\n' for d, p in routes.items())
        extra = (f'{route_text}[policy]\nsnapshot = "{self.snapshot}"\nnotice_limit = 5\nnotice_window = 3600\n'
                 f'{self.hsm_section}check_interval = 1\n')
        self.gw = Gateway(w, name=f"gw-{self.letter}", internal_sink=self.inside, outbound_sink=self.internet,
                          internal_networks=(), port=self.mx, env=self.env, domain=self.domain,
                          smtp=f'submission = ["127.0.0.1:{self.submission}"]', extra=extra)

    def submit(self, sender, rcpts, message, source="127.0.0.1"):
        with smtplib.SMTP("127.0.0.1", self.submission, timeout=30, source_address=(source, 0)) as s:
            return s.sendmail(sender, rcpts, message)

    def from_outside(self, sender, rcpts, message, source="127.0.0.1"):
        with smtplib.SMTP("127.0.0.1", self.mx, timeout=30, source_address=(source, 0)) as s:
            return s.sendmail(sender, rcpts, message)

    def mail_to(self, rcpt):
        """Messages at this agency's internal sink whose envelope names `rcpt`."""
        out = []
        for m in self.inside.messages():
            envelope = m.split(b"\r\n", 1)[0].split(b" -> ", 1)[1]
            if rcpt.encode() in envelope.split(b","):
                out.append(m)
        return out


def write_snapshot(agency, agencies, crl_overrides=None, version=1, extra="", without_certificate=()):
    pki = W["pki"]
    crls = [os.path.join(pki, a.domain.split(".")[0], "crl.pem") for a in agencies]
    for i, a in enumerate(agencies):
        if crl_overrides and a.domain in crl_overrides:
            crls[i] = crl_overrides[a.domain]
    with open(agency.snapshot + ".tmp", "w") as f:
        f.write(f"version = {version}\n")
        f.write("trusted_roots = [" + ", ".join(f'"{pki}/{a.domain.split(".")[0]}/ca.pem"' for a in agencies) + "]\n")
        f.write("crls = [" + ", ".join(f'"{c}"' for c in crls) + "]\n")
        f.write('trusted_servers = ["127.0.0.2/32"]\n' + extra)
        for a in agencies:
            f.write(f'[[agency]]\ndomain = "{a.domain}"\nname = "Agency {a.letter.upper()}"\n'
                    f'community = "{a.community}"\n' +
                    ("" if a.domain in without_certificate else f'certificate = "{a.token}/dca.pem"\n') +
                    f'capabilities = ["{AES256_CBC}"]\n')
    os.replace(agency.snapshot + ".tmp", agency.snapshot)


def world():
    if W:
        return W
    w = Workdir("e2e")
    W["w"] = w
    W["pki"] = os.path.join(w.path, "pki")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), W["pki"]], check=True, stdout=subprocess.DEVNULL)
    internet = Sink(w, "internet")
    a, b, c = (Agency(w, "a", "restricted", internet), Agency(w, "b", "standard", internet),
               Agency(w, "c", "restricted", internet, remote_hsm=True))
    agencies = [a, b, c]
    proxy = RecordingProxy(c.mx)
    a.configure(w, {b.domain: b.mx, c.domain: proxy.port})
    b.configure(w, {a.domain: a.mx, c.domain: c.mx})
    c.configure(w, {a.domain: a.mx, b.domain: b.mx})
    for x in agencies:
        # B also clear-signs its unclassified mail to the Internet (OUT-4 "may sign").
        write_snapshot(x, agencies, extra="sign_when_possible = true\n" if x is b else "")
        x.gw.start()
    W.update(a=a, b=b, c=c, agencies=agencies, internet=internet, proxy=proxy)
    return W


def body_of(message):
    return message.split(b"\r\n\r\n", 1)[1]


CLIENT_FIELDS = (b"Thread-Topic: [RESTRICTED] cabinet paper\r\nThread-Index: AdlKc2Vj\r\n"
                 b"Keywords: kumara-42\r\nComments: the cabinet paper draft\r\n"
                 b"X-Project-Code: kumara-42\r\nReply-To: cabinet-office@agency-a.govt.nz\r\n")


def test_1_restricted_docx_a_to_c_is_encrypted_on_the_wire_and_arrives_intact():
    """OUT-1, OUT-7, OUT-9, IN-1, IN-4, TRG-2: a LibreOffice-made .docx with [RESTRICTED] in it; the
    fields Outlook and other clients add (Thread-Topic repeats the subject) cross the wire only inside."""
    s = world()
    a, c, proxy = s["a"], s["c"], s["proxy"]
    with open(os.path.join(CORPUS, "w_split_runs.docx"), "rb") as f:
        docx = f.read()
    import base64
    b64 = base64.encodebytes(docx).replace(b"\n", b"\r\n")
    message = (b"From: Alice <alice@agency-a.govt.nz>\r\nTo: carol@agency-c.govt.nz\r\n"
               b"Subject: [RESTRICTED] cabinet paper\r\nMessage-ID: <e2e-1@agency-a.govt.nz>\r\n"
               + CLIENT_FIELDS +
               b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
               b"--b1\r\nContent-Type: text/plain\r\n\r\nThe paper is attached. Secret phrase: kumara-42.\r\n"
               b"--b1\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;"
               b" name=\"paper.docx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--b1--\r\n")
    a.submit("alice@agency-a.govt.nz", ["carol@agency-c.govt.nz"], message)
    wait_for(lambda: c.mail_to("carol@agency-c.govt.nz"), timeout=30, what="the message at C")
    wire = proxy.wire()
    check(b"application/pkcs7-mime" in wire and b"enveloped-data" in wire, wire[:2000])
    check(b"RESTRICTED" not in wire.upper() and b"kumara-42" not in wire and b"cabinet paper" not in wire
          and b"cabinet-office" not in wire,
          "no plaintext classified content on the wire")
    check(b"Subject: SEEMail secure message" in wire, "the outer Subject is neutral")
    got = c.mail_to("carol@agency-c.govt.nz")[0]
    check(b"X-SEEMAIL-Warning" not in got, got[:1500])
    check(b"X-SEEMAIL-Version: 2.0" in got and b"X-SEEMAIL-Classification: RESTRICTED" in got, got[:1500])
    check(b"Subject: [RESTRICTED] cabinet paper" in got, got[:1500])
    check(body_of(got) == body_of(message), "the body arrives byte for byte")
    check(CLIENT_FIELDS in got, "the client's own fields arrive intact inside (OUT-9)")
    check(b"application/pkcs7" not in got, "the domain layer is stripped")
    log = c.gw.log_text()
    check("signer agency-a.govt.nz: valid" in log, log[-2000:])


def test_1b_several_users_at_several_agencies_one_secured_copy_per_agency():
    """OUT-1, §2.4: one message to two users at B and two at C is secured once per agency (one
    transaction on the wire to C, for both of C's users) and each agency's copy decrypts."""
    s = world()
    a, b, c, proxy = s["a"], s["b"], s["c"], s["proxy"]
    rcpts = ["bert@agency-b.govt.nz", "bea@agency-b.govt.nz", "carol@agency-c.govt.nz", "cam@agency-c.govt.nz"]
    before = proxy.wire().count(b"smime-type=enveloped-data")
    a.submit("alice@agency-a.govt.nz", rcpts,
             b"From: alice@agency-a.govt.nz\r\nTo: " + ", ".join(rcpts).encode() +
             b"\r\nSubject: four readers\r\n\r\nmeeting at noon, all four of you\r\n")
    for agency, users in ((b, rcpts[:2]), (c, rcpts[2:])):
        wait_for(lambda: all(any(b"all four of you" in m for m in agency.mail_to(u)) for u in users),
                 what=f"both users at {agency.domain}")
        copies = [m for m in agency.inside.messages() if b"all four of you" in m]
        check(len(copies) == 1, f"{agency.domain}: one copy for both users, not {len(copies)}")
        check(copies[0].split(b"\r\n", 1)[0].endswith(",".join(users).encode()), copies[0][:120])
        check(b"application/pkcs7" not in copies[0] and b"X-SEEMAIL-Warning" not in copies[0], copies[0][:800])
    check(proxy.wire().count(b"smime-type=enveloped-data") - before == 1, "one secured copy crossed the wire to C")


def test_2_seemail_to_gmail_is_not_delivered_and_sender_gets_1a():
    """OUT-2: #1A, not delivered to ANY external recipient."""
    s = world()
    a, internet = s["a"], s["internet"]
    before = internet.count()
    a.submit("alice@agency-a.govt.nz", ["friend@gmail.com"],
             b"From: alice@agency-a.govt.nz\r\nTo: friend@gmail.com\r\nSubject: catch up\r\n\r\nsee [SEEMAIL] policy\r\n")
    wait_for(lambda: any(b"#1A" in m and b"catch up" in m for m in a.mail_to("alice@agency-a.govt.nz")),
             what="#1A to alice")
    wait_for(lambda: a.gw.queued() == 0, what="an empty queue at A")
    check(internet.count() == before, "nothing reached the Internet")
    n = [m for m in a.mail_to("alice@agency-a.govt.nz") if b"catch up" in m][0]
    check(b"This message has not been delivered to ANY EXTERNAL recipients." in n, n)
    check(b"From: SEEMail gateway <postmaster@agency-a.govt.nz>" in n, n[:500])
    check(b"friend@gmail.com" in n, "the notice names the recipient")


def test_2b_what_the_scanner_used_to_miss_is_stopped_and_the_sender_told_the_truth():
    """TRG-5, TRG-4: a trigger after a pad in the middle of base64 and one in an X- field are
    found (#1A); content the gateway cannot inspect is stopped with 001's "cannot be digitally
    signed", never with a #1A that claims a trigger word."""
    s = world()
    a, internet = s["a"], s["internet"]
    before = internet.count()
    cases = (
        (b"padded run", b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                        b"SGk=\r\nW1JFU1RSSUNURURdIGJ1ZGdldA==\r\n", b"#1A"),
        (b"x field", b"X-Project-Label: [SENSITIVE]\r\n\r\nnothing in the body\r\n", b"#1A"),
        (b"sealed", b"\r\n-----BEGIN PGP MESSAGE-----\r\nhQEMA5x\r\n-----END PGP MESSAGE-----\r\n",
         b"cannot be digitally signed"),
    )
    for tag, rest, _ in cases:
        a.submit("alice@agency-a.govt.nz", ["friend@gmail.com"],
                 b"From: alice@agency-a.govt.nz\r\nTo: friend@gmail.com\r\nSubject: " + tag + b"\r\n" + rest)
    for tag, _, warning in cases:
        wait_for(lambda: any(warning in m and b"Subject: " in m and tag in m for m in a.mail_to("alice@agency-a.govt.nz")),
                 what=f"{warning!r} to alice for {tag!r}")
    sealed = [m for m in a.mail_to("alice@agency-a.govt.nz") if b"sealed" in m][0]
    check(b"#1A" not in sealed and b"trigger word to an address" not in sealed, sealed[:1500])
    wait_for(lambda: a.gw.queued() == 0, what="an empty queue at A")
    check(internet.count() == before, "nothing reached the Internet")


def test_3_restricted_to_standard_agency_blocks_every_external_recipient():
    """OUT-3: #1C, also for the Restricted-community recipient in the same message."""
    s = world()
    a, b, c = s["a"], s["b"], s["c"]
    b_before, c_before = b.inside.count(), len(c.mail_to("carol@agency-c.govt.nz"))
    a.submit("alice@agency-a.govt.nz", ["bob@agency-b.govt.nz", "carol@agency-c.govt.nz"],
             b"From: alice@agency-a.govt.nz\r\nSubject: budget\r\n\r\n{restricted] numbers\r\n")
    wait_for(lambda: any(b"#1C" in m and b"budget" in m for m in a.mail_to("alice@agency-a.govt.nz")),
             what="#1C to alice")
    # Every queue empty: anything wrongly sent would have reached B's or C's sink by now.
    wait_for(lambda: a.gw.queued() == 0 and b.gw.queued() == 0 and c.gw.queued() == 0, what="empty queues")
    check(b.inside.count() == b_before, "nothing to B")
    check(len(c.mail_to("carol@agency-c.govt.nz")) == c_before, "nothing to C either")


def test_4_unclassified_to_gmail_is_delivered_unchanged():
    """OUT-4."""
    s = world()
    a, internet = s["a"], s["internet"]
    message = b"From: alice@agency-a.govt.nz\r\nTo: friend@gmail.com\r\nSubject: lunch\r\n\r\nnoon?\r\n"
    a.submit("alice@agency-a.govt.nz", ["friend@gmail.com"], message)
    wait_for(lambda: any(b"noon?" in m for m in internet.messages()), what="delivery to the Internet")
    got = [m for m in internet.messages() if b"noon?" in m][0]
    check(strip_trace(got) == message, got)


def test_4b_unclassified_mail_may_be_clear_signed_for_non_members():
    """OUT-4: B's policy signs its mail to non-members; anyone can read it and check it with
    OpenSSL against B's CA."""
    s = world()
    b, internet = s["b"], s["internet"]
    b.submit("bert@agency-b.govt.nz", ["friend@gmail.com"],
             b"From: bert@agency-b.govt.nz\r\nTo: friend@gmail.com\r\nSubject: signed hello\r\n\r\nread me\r\n")
    wait_for(lambda: any(b"signed hello" in m for m in internet.messages()), what="B's signed message")
    got = [m for m in internet.messages() if b"signed hello" in m][0]
    check(b"Content-Type: multipart/signed" in got and b"read me" in got, got[:1200])
    def verify(message):
        path = os.path.join(W["w"].path, "b-signed.eml")
        with open(path, "wb") as f:
            f.write(message.split(b"\r\n", 1)[1])  # without the sink's envelope line
        return subprocess.run(["openssl", "cms", "-verify", "-in", path, "-CAfile",
                               os.path.join(W["pki"], "agency-b", "ca.pem"), "-out", "/dev/null"],
                              capture_output=True)
    r = verify(got)
    check(r.returncode == 0 and b"Verification successful" in r.stderr, r.stderr)
    check(verify(got.replace(b"read me", b"read ME")).returncode != 0, "a changed body must fail verification")
    # OUT-7 (RFC 2632 §2.3): the signature carries the issuer chain, here B's CA, not only B's own.
    p7s = [p for p in message_from_bytes(got).walk() if p.get_content_type() == "application/pkcs7-signature"][0]
    certs = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-print_certs", "-noout"],
                           input=p7s.get_payload(decode=True), capture_output=True).stdout
    subjects = [l for l in certs.splitlines() if l.startswith(b"subject=")]
    check(len(subjects) == 2 and any(b"CN = agency-b Root CA" in l for l in subjects), certs)


def test_5_revoked_certificate_holds_and_tells_sender_and_admin():
    """OUT-5, OUT-8: C's certificate revoked, no renewal: held; sender and admin told; the admin
    can see, release (held again: not repaired) and delete it."""
    s = world()
    a, c, pki = s["a"], s["c"], W["pki"]
    # A CRL from C's CA that revokes C's gateway certificate, in a copy of the CA.
    ca = os.path.join(pki, "agency-c-revoking")
    shutil.copytree(os.path.join(pki, "agency-c"), ca)
    with open(os.path.join(ca, "ca.cnf")) as f:
        cnf = f.read().replace(os.path.join(pki, "agency-c"), ca)
    with open(os.path.join(ca, "ca.cnf"), "w") as f:
        f.write(cnf)
    args = ["-config", os.path.join(ca, "ca.cnf"), "-cert", os.path.join(ca, "ca.pem"), "-keyfile", os.path.join(ca, "ca.key")]
    openssl("ca", "-batch", *args, "-revoke", os.path.join(c.token, "dca.pem"), "-crl_reason", "keyCompromise")
    openssl("ca", "-batch", *args, "-gencrl", "-out", os.path.join(ca, "crl.pem"))
    write_snapshot(a, s["agencies"], {c.domain: os.path.join(ca, "crl.pem")}, version=2)
    rc, out = a.gw.admin("reload")
    check(rc == 0 and "version 2" in out, out)
    try:
        a.submit("alice@agency-a.govt.nz", ["carol@agency-c.govt.nz"],
                 b"From: alice@agency-a.govt.nz\r\nSubject: held one\r\n\r\n[SENSITIVE] text\r\n")
        wait_for(lambda: len(a.gw.spool_files("hold")) == 1, what="a held message")
        wait_for(lambda: any(b"held" in m and b"held one" in m for m in a.mail_to("alice@agency-a.govt.nz")),
                 what="the sender told")
        wait_for(lambda: any(b"held one" in m for m in a.mail_to("postmaster@agency-a.govt.nz")), what="the admin told")
        rc, held = a.gw.admin("queue", "held")
        check(rc == 0 and "carol@agency-c.govt.nz" in held and "revoked" in held, held)
        qid = held.split("\t")[0].strip()
        rc, why = a.gw.admin("explain", qid)
        check(rc == 0 and "rule=OUT-5" in why and "held now:" in why, why)
        rc, out = a.gw.admin("queue", "release", qid)
        check(rc == 0, out)
        wait_for(lambda: "released from hold" in a.gw.log_text() and len(a.gw.spool_files("hold")) == 1
                 and a.gw.queued() == 0, what="held again: the problem is not repaired")
        rc, out = a.gw.admin("queue", "delete", qid)
        check(rc == 0 and not a.gw.spool_files("hold"), out)
        rc, out = a.gw.admin("queue", "delete", "0000000000000F")
        check(rc == 1 and "not in the hold queue" in out, out)
        rc, out = a.gw.admin("queue", "delete", "../incoming/" + qid)
        check(rc == 1 and "is not a queue ID" in out, out)
        check(b"held one" not in s["proxy"].wire(), "nothing went to C")
    finally:
        write_snapshot(a, s["agencies"], version=3)
        rc, out = a.gw.admin("reload")
        check(rc == 0 and "version 3" in out, out)


def signed_message(cert, key, sender, subject, body, encrypt_to=None, to="dave@agency-a.govt.nz"):
    """What another gateway (here: openssl) sends: the message signed opaquely as message/rfc822,
    optionally enveloped to our certificate."""
    w = W["w"].path
    inner = os.path.join(w, "inner.eml")
    with open(inner, "wb") as f:
        f.write(b"Content-Type: message/rfc822\r\n\r\nFrom: " + sender.encode() + b"\r\nTo: " + to.encode() + b"\r\n"
                b"Subject: " + subject.encode() + b"\r\n\r\n" + body)
    crlf = lambda b: re.sub(rb"(?<!\r)\n", b"\r\n", b)  # openssl writes LF; SMTP wants CRLF
    signed = crlf(openssl("cms", "-sign", "-in", inner, "-signer", cert, "-inkey", key, "-nodetach", "-binary").stdout)
    if not encrypt_to:
        return b"From: " + sender.encode() + b"\r\nTo: dave@agency-a.govt.nz\r\nSubject: secure\r\n" + signed
    with open(os.path.join(w, "signed.eml"), "wb") as f:
        f.write(signed)
    return crlf(openssl("cms", "-encrypt", "-in", os.path.join(w, "signed.eml"), "-aes256", "-from", sender,
                        "-to", "dave@agency-a.govt.nz", "-subject", "secure", encrypt_to).stdout)


def delivered_to_dave(a, marker):
    wait_for(lambda: any(marker in m for m in a.mail_to("dave@agency-a.govt.nz")), what=f"{marker!r} at dave")
    return [m for m in a.mail_to("dave@agency-a.govt.nz") if marker in m][-1]


def signed_to_dave(cert, key, subject, body):
    """A message from carol@agency-c, signed with `cert` and encrypted to A, delivered by A."""
    a = W["a"]
    a.from_outside("carol@agency-c.govt.nz", ["dave@agency-a.govt.nz"],
                   signed_message(cert, key, "carol@agency-c.govt.nz", subject, body,
                                  encrypt_to=os.path.join(a.token, "dca.pem")))
    return delivered_to_dave(a, body.strip())


def test_6_expired_certificate_is_soft_unknown_ca_is_hard():
    """IN-2: delivered with the warning; the recipient's admin is told."""
    s = world()
    a, pki = s["a"], W["pki"]
    exp_cert, exp_key = issue(pki, "agency-c", "c-expired", "domain-confidentiality-authority@agency-c.govt.nz",
                              "-startdate", "20200101000000Z", "-enddate", "20210101000000Z")
    got = signed_to_dave(exp_cert, exp_key, "expired sig", b"old key text\r\n")
    check(b"X-SEEMAIL-Warning: SOFT; Certificate expired - message integrity uncertain" in got, got[:1500])
    check(b"Subject: [SOFT WARNING] expired sig" in got, got[:1500])
    parts = message_from_bytes(got).get_payload()
    check("SEEMail SOFT WARNING: Certificate expired" in parts[0].get_payload(decode=True).decode(), parts[0])
    unk_cert, unk_key = issue(pki, "untrusted", "c-untrusted", "domain-confidentiality-authority@agency-c.govt.nz")
    got = signed_to_dave(unk_cert, unk_key, "unknown ca", b"stranger text\r\n")
    check(b"X-SEEMAIL-Warning: HARD; Certificate unknown - message integrity uncertain" in got, got[:1500])
    check(b"Subject: [HARD WARNING] unknown ca" in got, got[:1500])
    wait_for(lambda: sum(b"inbound certificate problem" in m for m in a.mail_to("postmaster@agency-a.govt.nz")) >= 2,
             what="RA told twice")
    # IN-1: naming and dates are separate facts. Agency B's expired key signs for agency C's
    # domain: the recipient is told both (SOFT expired, HARD 2B), not only the dates.
    b_exp, b_exp_key = issue(pki, "agency-b", "b-expired", "domain-confidentiality-authority@agency-b.govt.nz",
                             "-startdate", "20200101000000Z", "-enddate", "20210101000000Z")
    got = signed_to_dave(b_exp, b_exp_key, "posing as c", b"b writes as c\r\n")
    check(b"X-SEEMAIL-Warning: SOFT; Certificate expired - message integrity uncertain" in got, got[:1500])
    check(b"X-SEEMAIL-Warning: HARD; Unverified sender (2B)" in got, got[:1500])
    check(b"Subject: [HARD WARNING] posing as c" in got, got[:1500])


def test_7_unsigned_agency_mail_is_hard_2b_soft_from_a_trusted_server():
    """IN-5."""
    s = world()
    a = s["a"]
    msg = b"From: carol@agency-c.govt.nz\r\nTo: dave@agency-a.govt.nz\r\nSubject: plain %s\r\n\r\nunsigned %s\r\n"
    a.from_outside("carol@agency-c.govt.nz", ["dave@agency-a.govt.nz"], msg % (b"one", b"one"))
    got = delivered_to_dave(a, b"unsigned one")
    check(b"X-SEEMAIL-Warning: HARD; Unverified sender (2B)" in got, got[:1500])
    check(b"did not come from the apparent sender's agency" in got, got)
    check(b"Content-Type: message/rfc822" in got and msg % (b"one", b"one") in got,
          "001: a copy of the original email is attached, whole")
    a.from_outside("carol@agency-c.govt.nz", ["dave@agency-a.govt.nz"], msg % (b"two", b"two"), source="127.0.0.2")
    got = delivered_to_dave(a, b"unsigned two")
    check(b"X-SEEMAIL-Warning: SOFT; Unverified sender (2B)" in got, got[:1500])


def test_8_trigger_from_non_member_is_4a_and_own_domain_from_outside_is_spoofing():
    """IN-6."""
    s = world()
    a = s["a"]
    a.from_outside("someone@example.org", ["dave@agency-a.govt.nz"],
                   b"From: someone@example.org\r\nSubject: hi\r\n\r\nour [SEEMAIL] question\r\n")
    got = delivered_to_dave(a, b"question")
    check(b"SEEMail Warning #4A - NOT SEEMail" in got, got[:1500])
    check(b"did not arrive from a SEEMail agency" in got, got)
    a.from_outside("ceo@agency-a.govt.nz", ["dave@agency-a.govt.nz"],
                   b"From: ceo@agency-a.govt.nz\r\nSubject: urgent\r\n\r\npay this invoice\r\n")
    got = delivered_to_dave(a, b"pay this invoice")
    check(b"X-SEEMAIL-Warning: HARD; This message has our agency's email address but came from outside" in got, got[:1500])
    check(b"could be\r\nSPOOFED" in got or b"SPOOFED" in got, got)
    # A forged "no warning" header from outside never survives.
    a.from_outside("x@example.org", ["dave@agency-a.govt.nz"],
                   b"From: x@example.org\r\nX-SEEMAIL-Warning: none\r\nSubject: f\r\n\r\nforged header\r\n")
    got = delivered_to_dave(a, b"forged header")
    check(b"X-SEEMAIL-Warning" not in got, got[:800])


def test_8b_individual_smime_arrives_as_it_was_sent():
    """§1.2 individual-to-individual S/MIME, IN-4: only the domain layer is removed. A user's own
    signature arrives byte for byte and is not judged as a domain signer; a message encrypted to a
    user's own certificate is delivered as it came, without a false warning."""
    s = world()
    a = s["a"]
    w = W["w"].path
    key, cert = os.path.join(w, "eve.key"), os.path.join(w, "eve.pem")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
            "-subj", "/CN=Eve User/emailAddress=eve@example.org")
    crlf = lambda b: re.sub(rb"(?<!\r)\n", b"\r\n", b)
    inner = os.path.join(w, "eve-inner.eml")
    with open(inner, "wb") as f:
        f.write(b"Content-Type: text/plain\r\n\r\nsigned by eve herself\r\n")
    signed = crlf(openssl("cms", "-sign", "-in", inner, "-signer", cert, "-inkey", key).stdout)
    message = b"From: eve@example.org\r\nTo: dave@agency-a.govt.nz\r\nSubject: eve signs\r\n" + signed
    a.from_outside("eve@example.org", ["dave@agency-a.govt.nz"], message)
    got = delivered_to_dave(a, b"signed by eve herself")
    check(b"X-SEEMAIL-Warning" not in got, got[:1500])
    check(strip_trace(got) == message, "the user's signed message arrives byte for byte")
    with open(inner, "wb") as f:
        f.write(b"Content-Type: text/plain\r\n\r\nfor dave's eyes only\r\n")
    sealed = crlf(openssl("cms", "-encrypt", "-in", inner, "-aes256", "-from", "eve@example.org",
                          "-to", "dave@agency-a.govt.nz", "-subject", "sealed by eve", cert).stdout)
    a.from_outside("eve@example.org", ["dave@agency-a.govt.nz"], sealed)
    wait_for(lambda: any(b"sealed by eve" in m for m in a.mail_to("dave@agency-a.govt.nz")), what="eve's sealed mail")
    got = [m for m in a.mail_to("dave@agency-a.govt.nz") if b"sealed by eve" in m][-1]
    check(b"X-SEEMAIL-Warning" not in got and b"could not" not in got, got[:1500])
    check(strip_trace(got) == sealed, "delivered as it came")


def test_8c_a_users_encrypted_smime_goes_secured_to_an_agency_and_nowhere_else():
    """§1.2, TRG-4: Alice encrypts to Bert's own certificate. The gateway cannot read it: to B (a
    Standard agency) it goes inside B's domain layer and arrives with Alice's envelope intact;
    to the Internet it does not go, and Alice is told it cannot be signed — not #1A/#1C."""
    s = world()
    a, b, internet = s["a"], s["b"], s["internet"]
    w = W["w"].path
    key, cert = os.path.join(w, "bert.key"), os.path.join(w, "bert.pem")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
            "-subj", "/CN=Bert User/emailAddress=bert@agency-b.govt.nz")
    inner = os.path.join(w, "alice-inner.eml")
    with open(inner, "wb") as f:
        f.write(b"Content-Type: text/plain\r\n\r\nonly bert may read this\r\n")
    crlf = lambda b: re.sub(rb"(?<!\r)\n", b"\r\n", b)
    sealed = crlf(openssl("cms", "-encrypt", "-in", inner, "-aes256", "-from", "alice@agency-a.govt.nz",
                          "-to", "bert@agency-b.govt.nz", "-subject", "sealed for bert", cert).stdout)
    a.submit("alice@agency-a.govt.nz", ["bert@agency-b.govt.nz"], sealed)
    wait_for(lambda: any(b"sealed for bert" in m for m in b.mail_to("bert@agency-b.govt.nz")), what="at B")
    got = [m for m in b.mail_to("bert@agency-b.govt.nz") if b"sealed for bert" in m][-1]
    check(body_of(got) == body_of(sealed), "Alice's envelope arrives intact inside B's")
    opened = subprocess.run(["openssl", "cms", "-decrypt", "-recip", cert, "-inkey", key],
                            input=got.split(b"\r\n", 1)[1], capture_output=True).stdout
    check(b"only bert may read this" in opened, opened)
    before = internet.count()
    out = sealed.replace(b"To: bert@agency-b.govt.nz", b"To: friend@gmail.com").replace(
        b"sealed for bert", b"sealed for friend")
    a.submit("alice@agency-a.govt.nz", ["friend@gmail.com"], out)
    wait_for(lambda: any(b"cannot be digitally signed" in m and b"sealed for friend" in m
                         for m in a.mail_to("alice@agency-a.govt.nz")), what="the cannot-be-signed notice")
    notice = [m for m in a.mail_to("alice@agency-a.govt.nz") if b"sealed for friend" in m][-1]
    check(b"#1A" not in notice and b"#1C" not in notice, notice[:1200])
    wait_for(lambda: a.gw.queued() == 0, what="an empty queue at A")
    check(internet.count() == before, "nothing reached the Internet")


def test_9_seemail_ping_round_trip_and_a_notification_storm_is_bounded():
    """OPS-3, OPS-2."""
    s = world()
    a, c = s["a"], s["c"]
    a.submit("alice@agency-a.govt.nz", ["seemail-ping@agency-c.govt.nz"],
             b"From: alice@agency-a.govt.nz\r\nTo: seemail-ping@agency-c.govt.nz\r\nSubject: ping\r\n\r\nping\r\n")
    wait_for(lambda: any(b"seemail-ping reply from agency-c.govt.nz" in m for m in a.mail_to("alice@agency-a.govt.nz")),
             timeout=30, what="the ping reply at A")
    reply = [m for m in a.mail_to("alice@agency-a.govt.nz") if b"seemail-ping reply" in m][0]
    text = message_from_bytes(reply).get_payload(decode=True).decode()
    check("SEEMAIL version: 2.0" in text and "Gateway software: seegw" in text, text)
    check("agency-b.govt.nz (Agency B, Standard community)" in text, text)
    check(b"X-SEEMAIL-Warning" not in reply, "the reply is signed by C and verified at A")
    check("seemail-ping reply to <alice@agency-a.govt.nz>" in c.gw.log_text(), c.gw.log_text()[-1500:])
    check(re.search(r"agency-a.govt.nz: signed \(SHA\d+\) and encrypted with", c.gw.log_text()), "the reply left C encrypted")
    # The storm: 500 blocked messages from one sender in one session.
    before = len(a.mail_to("postmaster@agency-a.govt.nz"))
    with smtplib.SMTP("127.0.0.1", a.submission, timeout=60) as smtp:
        for i in range(500):
            smtp.sendmail("storm@agency-a.govt.nz", ["x@gmail.com"],
                          b"From: storm@agency-a.govt.nz\r\nSubject: storm %d\r\n\r\n[IN CONFIDENCE]\r\n" % i)
    wait_for(lambda: a.gw.queued() == 0, timeout=120, what="the storm processed")
    rc, status = a.gw.admin("status")
    check(rc == 0 and re.search(r"blocked: (\d+)", status) and int(re.search(r"blocked: (\d+)", status)[1]) >= 500, status)
    admin = [m for m in a.mail_to("postmaster@agency-a.govt.nz")[before:] if b"storm" in m]
    user = [m for m in a.mail_to("storm@agency-a.govt.nz") if b"storm" in m]
    check(0 < len(admin) <= 5, f"{len(admin)} admin notices for 500 blocked messages")
    check(0 < len(user) <= 5, f"{len(user)} sender notices for 500 blocked messages")
    check(not any(b"storm" in m for m in s["internet"].messages()), "none reached the Internet")


def refuses_for_want_of_the_hsm(agency):
    """Does the agency's gateway greet its users with 421 4.3.2 (OPS-1: no HSM, no mail)?"""
    try:
        with socket.create_connection(("127.0.0.1", agency.submission), timeout=5) as sock:
            return sock.recv(256).startswith(b"421 4.3.2")
    except OSError:
        return False


def test_10_hsm_token_removed_mid_run_suspends_and_resumes():
    """OPS-1: 4xx while the token is gone; nothing leaves unencrypted; mail resumes by itself."""
    s = world()
    a, c, proxy = s["a"], s["c"], s["proxy"]
    tokens = os.path.join(a.token, "tokens")
    shutil.move(tokens, tokens + ".away")
    try:
        def refused():
            return refuses_for_want_of_the_hsm(a)
        wait_for(refused, timeout=20, what="421 while the HSM is gone")
        try:
            a.submit("alice@agency-a.govt.nz", ["carol@agency-c.govt.nz"], b"Subject: x\r\n\r\n[RESTRICTED] y\r\n")
            check(False, "a message was accepted without the HSM")
        except smtplib.SMTPException as e:
            check("4.3.2" in str(e) or "421" in str(e), e)
    finally:
        shutil.move(tokens + ".away", tokens)
    wait_for(lambda: not refused(), timeout=30, what="operational again")
    a.submit("alice@agency-a.govt.nz", ["carol@agency-c.govt.nz"],
             b"From: alice@agency-a.govt.nz\r\nSubject: after\r\n\r\n[RESTRICTED] resumed text\r\n")
    wait_for(lambda: any(b"resumed text" in m for m in c.mail_to("carol@agency-c.govt.nz")), timeout=30,
             what="mail flowing again")
    check(b"resumed text" not in proxy.wire() and b"RESTRICTED" not in proxy.wire().upper(),
          "never in clear on the wire")


def test_10b_a_network_hsm_outage_suspends_and_resumes():
    """OPS-1 with C's token in a process of its own (a network HSM): its server stops, C answers
    4xx and nothing leaves unencrypted; the server comes back, C logs in again and mail resumes."""
    s = world()
    a, c, proxy = s["a"], s["c"], s["proxy"]
    check(c.hsm is not None and "P11_KIT_SERVER_ADDRESS" in c.env and "SOFTHSM2_CONF" not in c.env,
          "C's gateway does not reach its token through the server")

    def refused():
        return refuses_for_want_of_the_hsm(c)
    c.hsm.stop()
    try:
        wait_for(refused, timeout=20, what="421 while the HSM server is down")
    finally:
        c.hsm.start()
    wait_for(lambda: not refused(), timeout=30, what="operational again with the server back")
    # C opens A's secured mail with its key in the server's process.
    a.submit("alice@agency-a.govt.nz", ["carol@agency-c.govt.nz"],
             b"From: alice@agency-a.govt.nz\r\nSubject: after the outage\r\n\r\n[RESTRICTED] hsm back\r\n")
    wait_for(lambda: any(b"hsm back" in m for m in c.mail_to("carol@agency-c.govt.nz")), timeout=30,
             what="A's secured mail opened at C after the outage")
    check(b"hsm back" not in proxy.wire(), "never in clear on the wire")


def test_11_certificate_request_by_signed_mail_is_answered_with_a_cer():
    """DIR-2 fallback: a signed request to domain-certificate-request@ whose Subject is the wanted
    address is answered with that certificate attached; an unsigned one is not answered."""
    s = world()
    a, c, pki = s["a"], s["c"], W["pki"]
    wanted = "domain-confidentiality-authority@agency-a.govt.nz"
    m = signed_message(os.path.join(pki, "certs", "agency-c-dca.pem"), os.path.join(pki, "certs", "agency-c-dca.key"),
                       "carol@agency-c.govt.nz", wanted, b"please\r\n", to="domain-certificate-request@agency-a.govt.nz")
    a.from_outside("carol@agency-c.govt.nz", ["domain-certificate-request@agency-a.govt.nz"], m)
    wait_for(lambda: any(wanted.encode() + b".cer" in x for x in c.mail_to("carol@agency-c.govt.nz")), timeout=30,
             what="the certificate answer at C")
    answer = message_from_bytes([x for x in c.mail_to("carol@agency-c.govt.nz") if wanted.encode() + b".cer" in x][0])
    cer = [p for p in answer.walk() if p.get_filename() == wanted + ".cer"][0].get_payload(decode=True)
    der = openssl("x509", "-in", os.path.join(a.token, "dca.pem"), "-outform", "DER").stdout
    check(cer == der, "the attachment is A's certificate in DER")
    before = len(c.mail_to("carol@agency-c.govt.nz"))
    a.from_outside("carol@agency-c.govt.nz", ["domain-certificate-request@agency-a.govt.nz"],
                   b"From: carol@agency-c.govt.nz\r\nSubject: " + wanted.encode() + b"\r\n\r\nunsigned\r\n")
    wait_for(lambda: "not signed by a trusted domain certificate: ignored" in a.gw.log_text(), what="ignored")
    wait_for(lambda: a.gw.queued() == 0, what="an empty queue at A")
    check(len(c.mail_to("carol@agency-c.govt.nz")) == before, "no answer to an unsigned request")


def test_13_new_certificates_and_capabilities_are_learnt_from_mail():
    """IN-4, OUT-6, DIR-2 approval: a valid but new domain certificate of an agency, seen on
    signed mail, is kept (used at once, or waiting for the administrator's approval), the
    administrator is told, and the peer's S/MIME capabilities are cached."""
    s = world()
    a, pki = s["a"], W["pki"]
    spool_certs = os.path.join(a.gw.spool, "certificates")
    # Test 9's ping reply from C taught A C's capabilities.
    caps = os.path.join(spool_certs, "capabilities", "agency-c.govt.nz")
    check(os.path.exists(caps) and "2.16.840.1.101.3.4.1.42" in open(caps).read(), "capabilities cached")
    # C renews its certificate (new key); mail signed with it arrives.
    cert, key = issue(pki, "agency-c", "c-renewed", "domain-confidentiality-authority@agency-c.govt.nz")
    got = signed_to_dave(cert, key, "renewed", b"renewed key text\r\n")
    check(b"X-SEEMAIL-Warning" not in got, "a valid certificate: no warning")
    learnt = os.path.join(spool_certs, "learnt", "agency-c.govt.nz.pem")
    wait_for(lambda: os.path.exists(learnt), what="the learnt certificate")
    check(openssl("x509", "-in", learnt, "-noout", "-fingerprint").stdout ==
          openssl("x509", "-in", cert, "-noout", "-fingerprint").stdout, "it is the renewed one")
    wait_for(lambda: any(b"new certificate learnt and used" in x for x in a.mail_to("postmaster@agency-a.govt.nz")),
             what="the administrator told")
    # With approval required, the next new certificate waits in pending/.
    os.remove(learnt)
    write_snapshot(a, s["agencies"], version=4, extra="auto_approve_certificates = false\n")
    rc, out = a.gw.admin("reload")
    check(rc == 0 and "version 4" in out, out)
    signed_to_dave(cert, key, "again", b"pending key text\r\n")
    pending = os.path.join(spool_certs, "pending", "agency-c.govt.nz.pem")
    wait_for(lambda: os.path.exists(pending), what="the certificate waiting for approval")
    check(not os.path.exists(learnt), "not used before approval")
    wait_for(lambda: any(b"new certificate awaits approval" in x for x in a.mail_to("postmaster@agency-a.govt.nz")),
             what="the administrator asked")
    write_snapshot(a, s["agencies"], version=5)
    check(a.gw.admin("reload")[0] == 0, "reload")


def test_12_no_current_policy_suspends_b_and_a_s_mail_waits_for_it():
    """OPS-1: B's snapshot grows older than [policy] max_age (seegw-control stopped): B answers
    4xx on both ports, A's mail to B waits in A's queue, nothing reaches B's users; a fresh
    snapshot resumes B by itself and the waiting mail arrives."""
    s = world()
    a, b = s["a"], s["b"]
    stale = f"sign_when_possible = true\ngenerated = {int(time.time()) - 8 * 86400}\n"
    write_snapshot(b, s["agencies"], version=20, extra=stale)

    def refused(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                return sock.recv(256).startswith(b"421 4.3.2")
        except OSError:
            return False
    try:
        wait_for(lambda: refused(b.mx) and refused(b.submission), timeout=20, what="B suspended")
        check("more than [policy] max_age" in b.gw.log_text(), b.gw.log_text()[-800:])
        before = len(b.mail_to("bert@agency-b.govt.nz"))
        a.submit("alice@agency-a.govt.nz", ["bert@agency-b.govt.nz"],
                 b"From: alice@agency-a.govt.nz\r\nTo: bert@agency-b.govt.nz\r\nSubject: waits\r\n\r\npolicy gap\r\n")
        time.sleep(3)  # A's attempts and retries meet 421 at B meanwhile
        check(a.gw.queued() == 1, "the message waits in A's queue")
        check(len(b.mail_to("bert@agency-b.govt.nz")) == before, "nothing delivered while B has no policy")
    finally:
        write_snapshot(b, s["agencies"], version=21, extra="sign_when_possible = true\n")
    wait_for(lambda: not refused(b.mx), timeout=20, what="B operational again")
    wait_for(lambda: any(b"policy gap" in m for m in b.mail_to("bert@agency-b.govt.nz")), timeout=60,
             what="the waiting message delivered")


def test_12b_a_vendor_gets_secure_unclassified_mail_and_never_classified_mail():
    """DIR-1: the directory's VENDOR list is not the SEEMAIL list: unclassified mail to a vendor
    with a valid domain certificate leaves signed and encrypted; classified mail is stopped (#1A)."""
    s = world()
    a, internet, pki = s["a"], s["internet"], W["pki"]
    v_cert, v_key = issue(pki, "agency-c", "vendor-dca", "domain-confidentiality-authority@vendor.co.nz")
    vendor = f'[[vendor]]\ndomain = "vendor.co.nz"\nname = "Vendor V"\ncertificate = "{v_cert}"\n'
    write_snapshot(a, s["agencies"], version=40, extra=vendor)
    a.gw.admin("reload")
    before = internet.count()
    a.submit("alice@agency-a.govt.nz", ["sales@vendor.co.nz"],
             b"From: alice@agency-a.govt.nz\r\nTo: sales@vendor.co.nz\r\nSubject: order\r\n\r\nten widgets\r\n")
    wait_for(lambda: any(b"sales@vendor.co.nz" in m.split(b"\r\n", 1)[0] for m in internet.messages()),
             what="the vendor's copy")
    got = [m for m in internet.messages() if b"sales@vendor.co.nz" in m.split(b"\r\n", 1)[0]][-1]
    check(b"application/pkcs7-mime" in got and b"ten widgets" not in got, got[:800])
    sealed = os.path.join(W["w"].path, "vendor.eml")
    with open(sealed, "wb") as f:
        f.write(got.split(b"\r\n", 1)[1])
    opened = openssl("cms", "-decrypt", "-in", sealed, "-recip", v_cert, "-inkey", v_key).stdout
    check(b"signed-data" in opened or b"pkcs7" in opened, opened[:300])
    a.submit("alice@agency-a.govt.nz", ["sales@vendor.co.nz"],
             b"From: alice@agency-a.govt.nz\r\nTo: sales@vendor.co.nz\r\nSubject: tender\r\n\r\n[IN CONFIDENCE] price\r\n")
    wait_for(lambda: any(b"#1A" in m and b"tender" in m for m in a.mail_to("alice@agency-a.govt.nz")),
             what="#1A for classified mail to a vendor")
    wait_for(lambda: a.gw.queued() == 0, what="an empty queue at A")
    check(internet.count() == before + 1, "only the unclassified message reached the vendor")


def test_15_a_missing_certificate_is_asked_for_by_signed_mail_and_the_held_mail_follows():
    """§2.8 auto-discovery and its e-mail fallback, both ends bootstrapping (issue 13 items 15, 16):
    A knows no certificate for C and C none for A (no directory here: seegw-control is not
    running). A [RESTRICTED] message from A to C is held (OUT-5) and A at once sends C a signed
    request for domain-confidentiality-authority@agency-c.govt.nz. C answers it although it holds
    no certificate for A — signed, and encrypted to the certificate that signed the request — and
    learns A's certificate from the request; A learns C's from the answer, and the held message
    leaves by itself, encrypted. Nothing crosses the wire in clear."""
    s = world()
    a, c, proxy = s["a"], s["c"], s["proxy"]
    for x, other in ((a, c), (c, a)):
        learnt = os.path.join(x.gw.spool, "certificates", "learnt", other.domain + ".pem")
        if os.path.exists(learnt):
            os.remove(learnt)
        write_snapshot(x, s["agencies"], version=20, without_certificate=(other.domain,))
        rc, out = x.gw.admin("reload")
        check(rc == 0 and "version 20" in out, out)
    wire_before, log_a, log_c = len(proxy.wire()), len(a.gw.log_text()), len(c.gw.log_text())
    try:
        a.submit("alice@agency-a.govt.nz", ["carol@agency-c.govt.nz"],
                 b"From: alice@agency-a.govt.nz\r\nTo: carol@agency-c.govt.nz\r\nSubject: bootstrap\r\n\r\n"
                 b"[RESTRICTED] waited for a certificate\r\n")
        wait_for(lambda: "certificate request to <domain-certificate-request@agency-c.govt.nz>" in a.gw.log_text()[log_a:],
                 what="A's signed certificate request")
        check("to=<carol@agency-c.govt.nz> action=hold rule=OUT-5" in a.gw.log_text()[log_a:],
              "the message was held first")
        wait_for(lambda: any(b"waited for a certificate" in m for m in c.mail_to("carol@agency-c.govt.nz")),
                 timeout=60, what="the held message at C")
        wire = proxy.wire()[wire_before:]
        check(b"Subject: domain-confidentiality-authority@agency-c.govt.nz" in wire and b"multipart/signed" in wire,
              "the request went to C signed, naming the wanted address")
        check(b"waited for a certificate" not in wire and b"RESTRICTED" not in wire.upper(), "never in clear")
        check(re.search(r"answer to <domain-certificate-request@agency-a.govt.nz> signed and encrypted to the "
                        r"certificate that signed the request", c.gw.log_text()[log_c:]), c.gw.log_text()[-3000:])
        check(os.path.exists(os.path.join(c.gw.spool, "certificates", "learnt", "agency-a.govt.nz.pem")),
              "C learnt A's certificate from the request")
        check(os.path.exists(os.path.join(a.gw.spool, "certificates", "learnt", "agency-c.govt.nz.pem")),
              "A learnt C's certificate from the answer")
        check("released from hold by itself" in a.gw.log_text()[log_a:], "released without the administrator")
        rc, held = a.gw.admin("queue", "held")
        check(rc == 0 and "carol@agency-c.govt.nz" not in held, held)
        check(not a.mail_to("domain-certificate-request@agency-a.govt.nz") and
              not c.mail_to("domain-certificate-request@agency-c.govt.nz"),
              "requests and answers are consumed by the gateways, never delivered to a user")
    finally:
        for x in (a, c):
            write_snapshot(x, s["agencies"], version=21)
            x.gw.admin("reload")


def test_15b_a_ping_from_a_trusted_ca_signer_not_on_the_lists_is_answered_encrypted_to_it():
    """§2.14 (issue 13 item 17): a partner on neither list, whose domain certificate a trusted CA
    issued, pings A. A holds no certificate for it, so the reply is encrypted to the certificate
    that signed the ping — on the wire to the Internet it is S/MIME, and only the partner's key
    opens it."""
    s, pki = world(), W["pki"]
    a = s["a"]
    cert, key = issue(pki, "agency-b", "partner", "domain-confidentiality-authority@partner.example.nz")
    ping = signed_message(cert, key, "ops@partner.example.nz", "ping", b"ping\r\n", to="seemail-ping@agency-a.govt.nz")
    a.from_outside("ops@partner.example.nz", ["seemail-ping@agency-a.govt.nz"], ping)
    wait_for(lambda: any(b"ops@partner.example.nz" in m.split(b"\r\n", 1)[0] for m in s["internet"].messages()),
             what="the ping reply to the partner")
    reply = [m for m in s["internet"].messages() if b"ops@partner.example.nz" in m.split(b"\r\n", 1)[0]][-1]
    check(b"application/pkcs7-mime" in reply and b"seemail-ping reply" not in reply, "encrypted in transit")
    path = os.path.join(W["w"].path, "partner-reply.eml")
    with open(path, "wb") as f:
        f.write(reply.split(b"\r\n", 1)[1])
    openssl("cms", "-decrypt", "-in", path, "-recip", cert, "-inkey", key, "-out", path + ".signed")
    text = openssl("cms", "-verify", "-in", path + ".signed", "-CAfile", os.path.join(pki, "agency-a", "ca.pem")).stdout
    check(b"seemail-ping reply from agency-a.govt.nz" in text, text[:400])


def admin_line(gw, line):
    """One line to the data plane's admin socket, as seegw-control sends it: the answer."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(os.path.join(gw.spool, "admin.sock"))
        sock.sendall(line.encode() + b"\n")
        return sock.makefile("rb").read().decode()


def test_16_a_key_change_over_loses_no_mail_in_transit_and_refuses_a_bad_certificate():
    """§2.3, §2.8, §2.9, OPS-5 (issue 13 items 7 and 8) end to end. B changes its key pair: the new
    one is made in B's token, its certificate issued by B's CA. A certificate for it that is not
    valid (expired) is refused and B keeps signing with the key it has. After the switch, A — which
    still holds B's old certificate — encrypts to the old one, and B opens it with its earlier
    key: no mail in transit is lost. B's first message signed with the new key teaches A the new
    certificate (IN-4)."""
    s, pki = world(), W["pki"]
    a, b = s["a"], s["b"]
    w = W["w"].path
    out = admin_line(b.gw, "key generate dca-2028")
    check(out.startswith("ok"), out)
    out = admin_line(b.gw, "key csr dca-2028 domain-confidentiality-authority@agency-b.govt.nz")
    check(out.startswith("ok\n-----BEGIN CERTIFICATE REQUEST"), out)
    csr, ext = os.path.join(w, "b-2028.csr"), os.path.join(w, "b-2028.ext")
    with open(csr, "w") as f:
        f.write(out[3:])
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                "subjectAltName=email:domain-confidentiality-authority@agency-b.govt.nz\n")
    d = os.path.join(pki, "agency-b")
    ca = ["ca", "-batch", "-config", os.path.join(d, "ca.cnf"), "-cert", os.path.join(d, "ca.pem"),
          "-keyfile", os.path.join(d, "ca.key"), "-in", csr, "-extfile", ext, "-notext"]
    expired, good = os.path.join(w, "b-2028-expired.pem"), os.path.join(w, "b-2028.pem")
    openssl(*ca, "-out", expired, "-startdate", "20200101000000Z", "-enddate", "20210101000000Z")
    openssl(*ca, "-out", good, "-days", "365")
    b64 = lambda p: base64.b64encode(open(p, "rb").read()).decode()  # noqa: E731
    out = admin_line(b.gw, "key install dca-2028 " + b64(expired))
    check(out.startswith("error: the certificate is not valid for agency-b.govt.nz: expired"), out)
    out = admin_line(b.gw, "key install dca-2028 " + b64(good))
    check(out.startswith("ok certificate installed"), out)
    out = admin_line(b.gw, "key switch dca-2028")
    check(out.startswith("ok key dca-2028 signs from now on; dca still decrypts"), out)
    wait_for(lambda: "operational: yes" in b.gw.admin("status")[1], what="B operational with its new key")
    try:
        # In transit: A still encrypts to B's old certificate (its snapshot has not changed).
        a.submit("alice@agency-a.govt.nz", ["bert@agency-b.govt.nz"],
                 b"From: alice@agency-a.govt.nz\r\nSubject: in transit\r\n\r\nsent during the change-over\r\n")
        wait_for(lambda: any(b"sent during the change-over" in m for m in b.mail_to("bert@agency-b.govt.nz")),
                 what="the mail to the old certificate opened at B")
        got = [m for m in b.mail_to("bert@agency-b.govt.nz") if b"sent during the change-over" in m][-1]
        check(b"X-SEEMAIL-Warning" not in got and b"application/pkcs7-mime" not in got, got[:800])
        # B's new signature teaches A the new certificate.
        b.submit("bert@agency-b.govt.nz", ["alice@agency-a.govt.nz"],
                 b"From: bert@agency-b.govt.nz\r\nSubject: new key\r\n\r\nsigned with the new key\r\n")
        learnt = os.path.join(a.gw.spool, "certificates", "learnt", "agency-b.govt.nz.pem")
        wait_for(lambda: os.path.exists(learnt), what="A learning B's new certificate")
        check(openssl("x509", "-in", learnt, "-noout", "-fingerprint").stdout ==
              openssl("x509", "-in", good, "-noout", "-fingerprint").stdout, "it is the new one")
        got = [m for m in a.mail_to("alice@agency-a.govt.nz") if b"signed with the new key" in m]
        check(got and b"X-SEEMAIL-Warning" not in got[-1], got[-1][:800] if got else "not delivered")
    finally:
        out = admin_line(b.gw, "key switch dca")
        check(out.startswith("ok key dca signs from now on"), out)
        learnt = os.path.join(a.gw.spool, "certificates", "learnt", "agency-b.govt.nz.pem")
        if os.path.exists(learnt):
            os.remove(learnt)
        wait_for(lambda: "operational: yes" in b.gw.admin("status")[1], what="B operational again")


def test_14_gateways_stop_cleanly_with_nothing_left_behind():
    """Every gateway stops on SIGTERM with status 0; sanitizer builds (CI runs this file against
    the ASan+UBSan build too) report nothing."""
    s = world()
    for x in s["agencies"]:
        wait_for(lambda: x.gw.queued() == 0, what=f"{x.domain} idle")
        x.gw.stop()
        check(x.gw.proc.returncode == 0, f"{x.domain} exit status {x.gw.proc.returncode}")
        log = x.gw.log_text()
        check(not re.search(r"ERROR: (Address|Leak)Sanitizer|runtime error:", log), log[-3000:])


def teardown():
    if not W:
        return
    for x in W.get("agencies", []):
        x.gw.stop()
        x.inside.stop()
        if x.hsm:
            x.hsm.stop()
    W["internet"].stop()
    if os.environ.get("SEEGW_KEEP") is None:
        W["w"].remove()


if __name__ == "__main__":
    try:
        run_tests([
            test_1_restricted_docx_a_to_c_is_encrypted_on_the_wire_and_arrives_intact,
            test_1b_several_users_at_several_agencies_one_secured_copy_per_agency,
            test_2_seemail_to_gmail_is_not_delivered_and_sender_gets_1a,
            test_2b_what_the_scanner_used_to_miss_is_stopped_and_the_sender_told_the_truth,
            test_3_restricted_to_standard_agency_blocks_every_external_recipient,
            test_4_unclassified_to_gmail_is_delivered_unchanged,
            test_4b_unclassified_mail_may_be_clear_signed_for_non_members,
            test_5_revoked_certificate_holds_and_tells_sender_and_admin,
            test_6_expired_certificate_is_soft_unknown_ca_is_hard,
            test_7_unsigned_agency_mail_is_hard_2b_soft_from_a_trusted_server,
            test_8_trigger_from_non_member_is_4a_and_own_domain_from_outside_is_spoofing,
            test_8b_individual_smime_arrives_as_it_was_sent,
            test_8c_a_users_encrypted_smime_goes_secured_to_an_agency_and_nowhere_else,
            test_9_seemail_ping_round_trip_and_a_notification_storm_is_bounded,
            test_10_hsm_token_removed_mid_run_suspends_and_resumes,
            test_10b_a_network_hsm_outage_suspends_and_resumes,
            test_11_certificate_request_by_signed_mail_is_answered_with_a_cer,
            test_12_no_current_policy_suspends_b_and_a_s_mail_waits_for_it,
            test_12b_a_vendor_gets_secure_unclassified_mail_and_never_classified_mail,
            test_13_new_certificates_and_capabilities_are_learnt_from_mail,
            test_15_a_missing_certificate_is_asked_for_by_signed_mail_and_the_held_mail_follows,
            test_15b_a_ping_from_a_trusted_ca_signer_not_on_the_lists_is_answered_encrypted_to_it,
            test_16_a_key_change_over_loses_no_mail_in_transit_and_refuses_a_bad_certificate,
            test_14_gateways_stop_cleanly_with_nothing_left_behind,
        ])
    finally:
        teardown()
