#!/usr/bin/python3
"""rule OPS-1: when the gateway is not operational (its HSM token is missing or unusable, or it has
no good and current policy snapshot) incoming and outgoing mail are suspended automatically:
clients get 4xx, queued mail stays queued; when the part is back, mail flows again without anyone
touching the gateway."""
import os
import re
import smtplib
import socket
import subprocess
import time

from harness import BUILD, Gateway, Sink, Workdir, check, free_port, run_tests, wait_for

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def banner(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return s.recv(512)


def own_roots_policy(w, pki, ca="agency-a"):
    """A [policy] section whose snapshot trusts `ca`: our own certificate is validated against it."""
    snapshot = os.path.join(w.path, f"policy-{ca}.toml")
    with open(snapshot, "w") as f:
        f.write(f'version = 1\ntrusted_roots = ["{pki}/{ca}/ca.pem"]\ncrls = ["{pki}/{ca}/crl.pem"]\n')
    return f'[policy]\nsnapshot = "{snapshot}"\n'


def test_missing_token_suspends_mail_until_it_appears():
    w = Workdir("ops1")
    token = os.path.join(w.path, "token")
    pki = os.path.join(w.path, "pki")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    out_port = free_port()
    env = dict(os.environ, SOFTHSM2_CONF=os.path.join(token, "softhsm2.conf"))
    hsm = (f'[hsm]\ntoken = "agency-a.govt.nz"\npin_file = "{token}/user.pin"\nkey_label = "dca"\n'
           'check_interval = 1\n' + own_roots_policy(w, pki))
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


def age_key(token, label, start):
    """Sets the key pair's CKA_START_DATE (when it was made; on the public half, which SoftHSM2 can
    read back) as an independent PKCS#11 consumer (PyKCS11) would: 'YYYYMMDD'. Returns the old."""
    script = r"""
import PyKCS11, sys
lib = PyKCS11.PyKCS11Lib(); lib.load("/usr/lib/softhsm/libsofthsm2.so")
slot = [s for s in lib.getSlotList(tokenPresent=True)
        if lib.getTokenInfo(s).label.strip() == "agency-a.govt.nz"][0]
session = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
session.login(open(sys.argv[1]).read().split()[0])
for o in session.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_LABEL, sys.argv[2])]):
    print(bytes(session.getAttributeValue(o, [PyKCS11.CKA_START_DATE], allAsBinary=True)[0]).decode())
    session.setAttributeValue(o, [(PyKCS11.CKA_START_DATE, list(sys.argv[3].encode()))])
"""
    r = subprocess.run(["/usr/bin/python3", "-c", script, os.path.join(token, "user.pin"), label, start],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, SOFTHSM2_CONF=os.path.join(token, "softhsm2.conf")))
    check(r.returncode == 0, r.stderr)
    return r.stdout.strip()


def test_own_certificate_is_validated_like_a_peers():
    """§2.9, OPS-1: our own certificate must chain to our trusted roots (and be in date, not
    revoked, named for our domain) or nothing is signed with it: 4xx, the reason in the log and
    in status; a snapshot that trusts its CA makes the gateway operational by itself. A
    certificate that expires within 30 days and a key pair made more than four years ago (§2.3,
    its PKCS#11 start date) are reported to the administrator (DIR-4)."""
    w = Workdir("own-cert")
    token, pki = os.path.join(w.path, "token"), os.path.join(w.path, "pki")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(TOP, "tools", "make-test-hsm"), token, "agency-a.govt.nz", pki,
                    os.path.join(BUILD, "crypto-hsm", "seegw-hsm"), "rsa:2048", "20"],
                   check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, SOFTHSM2_CONF=os.path.join(token, "softhsm2.conf"))
    made = age_key(token, "dca", "20200101")
    check(made == time.strftime("%Y%m%d", time.gmtime()), f"key generation records the day: {made!r}")
    snapshot = os.path.join(w.path, "policy.toml")
    write_policy(snapshot, f'version = 1\ntrusted_roots = ["{pki}/untrusted/ca.pem"]\n')
    local = Sink(w, "internal")
    gw = Gateway(w, internal_sink=local, env=env,
                 extra=(f'[hsm]\ntoken = "agency-a.govt.nz"\npin_file = "{token}/user.pin"\n'
                        f'check_interval = 1\n[policy]\nsnapshot = "{snapshot}"\n')).start()
    try:
        check(banner(gw.port).startswith(b"421 4.3.2"), "not operational with an untrusted own certificate")
        check("our own certificate is not valid: unknown-ca" in gw.log_text(), gw.log_text()[-800:])
        rc, status = gw.admin("status")
        check("fault: our own certificate is not valid" in status, status)
        write_policy(snapshot, f'version = 2\ntrusted_roots = ["{pki}/agency-a/ca.pem"]\n'
                               f'crls = ["{pki}/agency-a/crl.pem"]\n')
        wait_for(lambda: banner(gw.port).startswith(b"220 "), timeout=20, what="operational: its CA is trusted")
        rc, status = gw.admin("status")
        check("own certificate: valid (valid);" in status and "the certificate expires within 30 days" in status
              and "the key pair is more than four years old" in status, status)
        wait_for(lambda: any(b"own certificate needs attention" in m and b"expires within 30 days" in m
                             and b"more than four years old" in m for m in local.messages()),
                 what="the administrator told")
        check(local.messages()[0].split(b"\r\n", 1)[0].endswith(b"-> postmaster@agency-a.govt.nz"),
              local.messages()[0][:200])
        time.sleep(2)
        check(local.count() == 1, "told once, not at every check")
    finally:
        gw.stop(); local.stop(); w.remove()


def test_earlier_keys_decrypt_mail_in_transit_until_retired():
    """§2.3, §2.8, OPS-5 key change-over: the gateway signs with its new key; mail a peer encrypted
    to the old certificate while the change was under way is still decrypted, until the
    administrator retires the old key (from then on it is not ours to open)."""
    w = Workdir("rollover")
    token, pki = os.path.join(w.path, "token"), os.path.join(w.path, "pki")
    hsm_tool = os.path.join(BUILD, "crypto-hsm", "seegw-hsm")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(TOP, "tools", "make-test-hsm"), token, "agency-a.govt.nz", pki, hsm_tool],
                   check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, SOFTHSM2_CONF=os.path.join(token, "softhsm2.conf"))

    def hsm(*args):
        return subprocess.run([hsm_tool, "--token", "agency-a.govt.nz", "--pin-file", f"{token}/user.pin", *args],
                              check=True, capture_output=True, env=env).stdout

    # The new key pair, made in the token, its certificate issued by the agency's CA.
    hsm("keygen", "--label", "dca-2027")
    with open(os.path.join(w.path, "new.csr"), "wb") as f:
        f.write(hsm("csr", "--label", "dca-2027", "--email", "domain-confidentiality-authority@agency-a.govt.nz"))
    ca = os.path.join(pki, "agency-a")
    new_cert = os.path.join(w.path, "new.pem")
    with open(os.path.join(w.path, "new.ext"), "w") as f:
        f.write("keyUsage=critical,digitalSignature,keyEncipherment\n"
                "subjectAltName=email:domain-confidentiality-authority@agency-a.govt.nz\n")
    subprocess.run(["openssl", "ca", "-batch", "-config", os.path.join(ca, "ca.cnf"), "-cert", os.path.join(ca, "ca.pem"),
                    "-keyfile", os.path.join(ca, "ca.key"), "-in", os.path.join(w.path, "new.csr"), "-out", new_cert,
                    "-extfile", os.path.join(w.path, "new.ext"), "-notext", "-days", "365"], check=True, capture_output=True)
    hsm("import-cert", "--label", "dca-2027", new_cert)
    local = Sink(w, "internal")
    gw = Gateway(w, internal_sink=local, env=env, internal_networks=(),
                 extra=(f'[hsm]\ntoken = "agency-a.govt.nz"\npin_file = "{token}/user.pin"\nkey_label = "dca-2027"\n'
                        'check_interval = 1\n' + own_roots_policy(w, pki))).start()

    def sealed_to(cert, text):
        src = os.path.join(w.path, "plain.eml")
        with open(src, "wb") as f:
            f.write(b"Content-Type: text/plain\r\n\r\n" + text + b"\r\n")
        out = subprocess.run(["openssl", "cms", "-encrypt", "-in", src, "-aes256", "-from", "peer@example.org",
                              "-to", "dave@agency-a.govt.nz", "-subject", "sealed", cert],
                             check=True, capture_output=True).stdout
        return out.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    def deliver(message):
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as s:
            s.sendmail("peer@example.org", ["dave@agency-a.govt.nz"], message)
    try:
        wait_for(lambda: banner(gw.port).startswith(b"220 "), timeout=20, what="operational with the new key")
        deliver(sealed_to(os.path.join(token, "dca.pem"), b"to the old certificate"))
        deliver(sealed_to(new_cert, b"to the new certificate"))
        sealed_ones = lambda: [m for m in local.messages() if b"Subject: sealed" in m]  # noqa: E731
        wait_for(lambda: len(sealed_ones()) == 2, what="both delivered")
        for m in sealed_ones():
            check(b"to the old certificate" in m or b"to the new certificate" in m, m[:800])
            check(b"application/pkcs7-mime" not in m and b"X-SEEMAIL-Warning: HARD" not in m, m[:800])
        # Retired: the old key is gone from the token; mail to its certificate is not ours to open.
        # What the console's `key retire` sends the data plane over its admin socket.
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(os.path.join(gw.spool, "admin.sock"))
            s.sendall(b"key retire dca\n")
            out = s.makefile("rb").read().decode()
        check(out.startswith("ok key dca retired"), out)
        wait_for(lambda: banner(gw.port).startswith(b"220 "), timeout=20, what="operational after retiring")
        deliver(sealed_to(os.path.join(token, "dca.pem"), b"too late for the old key"))
        # (It waits while the token is opened afresh, then goes: nothing is lost in between.)
        wait_for(lambda: len(sealed_ones()) == 3, what="the third message")
        late = [m for m in sealed_ones() if b"application/pkcs7-mime" in m]
        check(len(late) == 1, "after retirement it is delivered as it came, undecrypted")
    finally:
        gw.stop(); local.stop(); w.remove()


def test_the_digest_follows_the_peers_capabilities_and_unknown_algorithms_stop_the_start():
    """OUT-6, §2.4: a peer whose S/MIME capabilities name only SHA-1 gets SHA-1 (nothing better
    is offered); one that names SHA-384 gets it. The approved lists are configuration, checked
    when the gateway starts: an unknown name is a clear error and the gateway does not start."""
    w = Workdir("digest")
    token, pki = os.path.join(w.path, "token"), os.path.join(w.path, "pki")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(TOP, "tools", "make-test-hsm"), token, "agency-a.govt.nz", pki,
                    os.path.join(BUILD, "crypto-hsm", "seegw-hsm")], check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, SOFTHSM2_CONF=os.path.join(token, "softhsm2.conf"))
    snapshot = os.path.join(w.path, "policy.toml")
    aes256, sha1, sha384 = "2.16.840.1.101.3.4.1.42", "1.3.14.3.2.26", "2.16.840.1.101.3.4.2.2"
    write_policy(snapshot, f'version = 1\ntrusted_roots = ["{pki}/agency-a/ca.pem", "{pki}/agency-b/ca.pem", '
                           f'"{pki}/agency-c/ca.pem"]\ncrls = ["{pki}/agency-a/crl.pem", "{pki}/agency-b/crl.pem", '
                           f'"{pki}/agency-c/crl.pem"]\n'
                           f'[[agency]]\ndomain = "agency-b.govt.nz"\ncommunity = "restricted"\n'
                           f'certificate = "{pki}/certs/agency-b-dca.pem"\ncapabilities = ["{aes256}", "{sha1}", "{sha384}"]\n'
                           f'[[agency]]\ndomain = "agency-c.govt.nz"\ncommunity = "restricted"\n'
                           f'certificate = "{pki}/certs/agency-c-dca.pem"\ncapabilities = ["{aes256}", "{sha1}"]\n')
    hsm = f'[hsm]\ntoken = "agency-a.govt.nz"\npin_file = "{token}/user.pin"\ncheck_interval = 1\n'
    peers = Sink(w, "peers")
    bad = Gateway(w, name="bad", env=env, extra=hsm + '[smime]\ndigests = ["sha256", "md5"]\n'
                  f'[policy]\nsnapshot = "{snapshot}"\n')
    try:
        try:
            bad.start()
            check(False, "a gateway with an unknown digest started")
        except RuntimeError as e:
            check("unknown digest 'md5'" in str(e) and "exit status 1" in str(e), str(e))
        gw = Gateway(w, outbound_sink=peers, env=env, extra=hsm + f'[policy]\nsnapshot = "{snapshot}"\n').start()
        try:
            wait_for(lambda: banner(gw.port).startswith(b"220 "), timeout=20, what="operational")
            for who in ("bert@agency-b.govt.nz", "carol@agency-c.govt.nz"):
                with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as s:
                    s.sendmail("alice@agency-a.govt.nz", [who], f"To: {who}\r\nSubject: d\r\n\r\nhello\r\n".encode())
            wait_for(lambda: peers.count() == 2, what="both secured messages")
            for m in peers.messages():
                who = m.split(b"\r\n", 1)[0].split(b" -> ")[1].decode()
                agency = who.split("@")[1].split(".")[0]
                sealed = os.path.join(w.path, f"{agency}.eml")
                with open(sealed, "wb") as f:
                    f.write(m.split(b"\r\n", 1)[1])
                key = os.path.join(pki, "certs", f"{agency}-dca")
                signed = subprocess.run(["openssl", "cms", "-decrypt", "-in", sealed, "-recip", key + ".pem",
                                         "-inkey", key + ".key"], check=True, capture_output=True).stdout
                printed = subprocess.run(["openssl", "cms", "-cmsout", "-print"], input=signed,
                                         check=True, capture_output=True).stdout
                want = b"sha384" if agency == "agency-b" else b"sha1"
                check(re.search(rb"digestAlgorithm:\s*\n\s*algorithm: " + want + rb" ", printed), printed[:3000])
        finally:
            gw.stop()
    finally:
        peers.stop(); w.remove()


def write_policy(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def test_no_policy_no_mail_until_a_good_snapshot_arrives():
    """No snapshot, a corrupt one, an empty one, one too old: 4xx and a clear log line, never a
    crash and never mail decided without the rules; a good snapshot resumes mail by itself."""
    w = Workdir("ops1-policy")
    snapshot = os.path.join(w.path, "policy.toml")
    out = Sink(w, "internet")
    gw = Gateway(w, outbound_sink=out,
                 extra=f'[policy]\nsnapshot = "{snapshot}"\nmax_age = 60\n[hsm]\ncheck_interval = 1\n')
    try:
        gw.start()  # the snapshot file does not exist: it starts, and waits
        reply = banner(gw.port)
        check(reply.startswith(b"421 4.3.2") and b"not operational" in reply, reply)
        check("no valid policy snapshot" in gw.log_text(), gw.log_text()[-600:])
        rc, status = gw.admin("status")
        check("operational: no" in status and "fault: no valid policy snapshot" in status, status)
        for bad in ("version = \x00\x01garbage [[[", "", "# cut off before the version\n"):
            write_policy(snapshot, bad)
            time.sleep(1.5)
            check(gw.alive() and banner(gw.port).startswith(b"421 4.3.2"), f"still suspended with {bad!r}")
        check("not a policy snapshot" in gw.log_text(), gw.log_text()[-600:])
        write_policy(snapshot, "version = 7\n")
        wait_for(lambda: banner(gw.port).startswith(b"220 "), timeout=20, what="operational with a good snapshot")
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=20) as s:
            s.sendmail("alice@agency-a.govt.nz", ["bob@example.org"], b"Subject: now\r\n\r\nflows\r\n")
        wait_for(lambda: out.count() == 1, what="mail flows with a good snapshot")
        # seegw-control stopped writing: the snapshot in use grows older than max_age.
        write_policy(snapshot, f"version = 8\ngenerated = {int(time.time()) - 3600}\n")
        wait_for(lambda: banner(gw.port).startswith(b"421 4.3.2"), timeout=20, what="suspended: snapshot too old")
        check("more than [policy] max_age" in gw.log_text(), gw.log_text()[-600:])
        write_policy(snapshot, f"version = 9\ngenerated = {int(time.time())}\n")
        wait_for(lambda: banner(gw.port).startswith(b"220 "), timeout=20, what="operational with a fresh snapshot")
        gw.stop()
        check(gw.proc.returncode == 0, f"clean exit, status {gw.proc.returncode}")
    finally:
        gw.stop(); out.stop(); w.remove()


def test_no_policy_configured_is_not_operational():
    w = Workdir("ops1-nopolicy")
    gw = Gateway(w, extra='[policy]\nsnapshot = ""\n').start()
    try:
        reply = banner(gw.port)
        check(reply.startswith(b"421 4.3.2"), reply)
        check("no policy snapshot is configured" in gw.log_text(), gw.log_text()[-400:])
    finally:
        gw.stop(); w.remove()


if __name__ == "__main__":
    run_tests([test_missing_token_suspends_mail_until_it_appears, test_bad_pin_file_is_a_clear_fault,
               test_no_policy_no_mail_until_a_good_snapshot_arrives, test_no_policy_configured_is_not_operational,
               test_own_certificate_is_validated_like_a_peers,
               test_earlier_keys_decrypt_mail_in_transit_until_retired,
               test_the_digest_follows_the_peers_capabilities_and_unknown_algorithms_stop_the_start])
