"""Secure Government Email, inbound: SPF (RFC 7208), DKIM (RFC 6376, libopendkim) and DMARC
(RFC 7489, libopendmarc) on mail from outside, against DNSSEC-signed zones served by nsd and
validated by unbound, messages signed by OpenDKIM's own signer (opendkim-testmsg) with keys made
by opendkim-genkey (RSA) and PyNaCl (Ed25519) and signed by dkimpy (python3-dkim; OpenDKIM's own
opendkim-testmsg signs only rsa-sha1, which RFC 8301 retired), and a Postfix peer with smtp_tls_security_level = dane delivering to us.

Shown: pass, fail and none for each method, in the Authentication-Results field the gateway adds
(a forged one in our name removed, another's kept); p=reject refused with 550 5.7.1, p=quarantine
held, sp= for a subdomain, pct=0 one step milder; a SEEMail member's S/MIME judged by its
signature, not DMARC; a DNS failure deferred (451), never rejected or passed; hostile DNS (too
many SPF lookups, an include loop, a CNAME loop, a 10 KB key record) and malformed DKIM fields each
a clear result; Postfix's DANE accepts our TLSA record and refuses a mismatched one.
"""
import os
import re
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Gateway, Sink, Workdir, check, free_port, run_tests, wait_for  # noqa: E402
from sge_world import TOP, SignedDns, make_ca, tlsa_3_1_1  # noqa: E402

AGENCY = "agency-b.govt.nz"
BRANCH = "branch.agency-b.govt.nz"  # a second domain of ours, published with a wrong TLSA record
AUTHSERV = "gw.agency-b.govt.nz"
GOOD_PEER, OTHER_PEER, POSTFIX_PEER = "127.0.0.5", "127.0.0.6", "127.0.0.7"
RESOLV_FOR_POSTFIX = "127.0.0.153@53"
MEMBER = "agency-a.govt.nz"  # a SEEMail member agency
W = {}


def txt(text):
    """TXT RDATA: the text in quoted strings of at most 255 bytes (RFC 1035 §3.3.14)."""
    return " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))


def spf(*terms, name="@"):
    return f'{name} IN TXT {txt("v=spf1 " + " ".join(terms))}'


def dkim_key(w, domain, selector):
    """opendkim-genkey's key pair: (private key file, the zone line it prints)."""
    d = w.sub("keys", domain)
    os.makedirs(d, exist_ok=True)
    subprocess.run(["opendkim-genkey", "-b", "2048", "-D", d, "-d", domain, "-s", selector], check=True)
    with open(os.path.join(d, selector + ".txt")) as f:
        record = re.sub(r"\s*;\s*-----.*$", "", f.read(), flags=re.M)  # opendkim-genkey's comment
    return os.path.join(d, selector + ".private"), " ".join(record.split())


def ed25519_key():
    """An Ed25519 key pair for dkimpy (RFC 8463): (private seed, base64; the zone line)."""
    import base64
    import nacl.signing
    key = nacl.signing.SigningKey.generate()
    public = base64.b64encode(bytes(key.verify_key)).decode()
    return base64.b64encode(bytes(key)), f'ed2026._domainkey IN TXT "v=DKIM1; k=ed25519; p={public}"'


def world():
    if W:
        return W
    w = Workdir("sge-inbound")
    os.chmod(w.path, 0o755)  # Postfix's daemons run as postfix inside it
    key, sender_a_key = dkim_key(w, "sender-a.example", "s2026")
    ed_key, sender_a_ed_key = ed25519_key()
    big = " ".join(f'"{c * 250}"' for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN")  # 40 × 250 bytes
    web = make_ca(w, {"gw": [AUTHSERV]})
    gw_cert, gw_key = web["gw"]
    smtp_port = free_port()
    pki = w.sub("pki")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    dns = SignedDns(w, [AGENCY, "sender-a.example", "quarantine.example", "nothing.example",
                        "pct.example", "hostile.example", "flaky.example", "slow.example", "agency-a.govt.nz"])
    zones = {
        AGENCY: ["@ IN MX 10 gw", "gw IN A 127.0.0.1", f"_{smtp_port}._tcp.gw IN TLSA 3 1 1 {tlsa_3_1_1(gw_cert)}",
                 f"{BRANCH.split('.')[0]} IN MX 10 mx.{BRANCH}.", f"mx.{BRANCH.split('.')[0]} IN A 127.0.0.1",
                 f"_{smtp_port}._tcp.mx.{BRANCH.split('.')[0]} IN TLSA 3 1 1 {'00' * 32}"],
        "sender-a.example": [spf(f"ip4:{GOOD_PEER}", f"ip4:{POSTFIX_PEER}", "-all"), sender_a_key, sender_a_ed_key,
                             '_dmarc IN TXT "v=DMARC1; p=reject; sp=none"',
                             '_dmarc.strict IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"'],
        "quarantine.example": [spf(f"ip4:{GOOD_PEER}", "-all"), '_dmarc IN TXT "v=DMARC1; p=quarantine"'],
        "pct.example": [spf(f"ip4:{GOOD_PEER}", "-all"), '_dmarc IN TXT "v=DMARC1; p=reject; pct=0"'],
        "nothing.example": ["@ IN A 127.0.0.9"],
        "agency-a.govt.nz": [spf(f"ip4:{GOOD_PEER}", "-all"), '_dmarc IN TXT "v=DMARC1; p=reject"'],
        "flaky.example": [spf("include:spf.dead.example", "-all"), '_dmarc IN TXT "v=DMARC1; p=reject"'],
        "slow.example": [spf("include:spf.silent.example", "-all"), '_dmarc IN TXT "v=DMARC1; p=reject"'],
        "hostile.example": [
            '_dmarc IN TXT "v=DMARC1; p=none"',
            spf(*[f"include:i{i}.hostile.example" for i in range(11)], "-all", name="many"),
            *[f'i{i} IN TXT "v=spf1 ip4:192.0.2.{i} -all"' for i in range(11)],
            'loop IN TXT "v=spf1 include:loop.hostile.example -all"',
            'cnameloop IN TXT "v=spf1 include:c1.hostile.example -all"',
            "c1 IN CNAME c2", "c2 IN CNAME c1",
            f"huge._domainkey IN TXT {big}"],
    }
    dns.start(zones, also_listen=RESOLV_FOR_POSTFIX, dead_zones=["dead.example"], silent_zones=["silent.example"])
    snapshot = w.sub("policy.toml")
    with open(snapshot, "w") as f:  # agency-a is a SEEMail member with a usable certificate
        f.write(f'version = 1\ntrusted_roots = ["{pki}/agency-a/ca.pem"]\ncrls = ["{pki}/agency-a/crl.pem"]\n'
                f'[[agency]]\ndomain = "{MEMBER}"\ncommunity = "restricted"\n'
                f'certificate = "{pki}/certs/agency-a-dca.pem"\n')
    anchors = ", ".join(f'"{dns.anchor(z)}"' for z in dns.zones)
    inside = Sink(w, "inside")
    g = Gateway(w, name="gw-b", domain=AGENCY, local_domains=(BRANCH,), internal_sink=inside,
                internal_networks=("127.0.0.1/32",), port=smtp_port,
                smtp=f'tls_cert = "{gw_cert}"\ntls_key = "{gw_key}"',
                extra=f'[policy]\nsnapshot = "{snapshot}"\n'
                      f'[dns]\nforwarders = ["127.0.0.1@{dns.port}"]\ntrust_anchors = [{anchors}]\nquery_timeout = 2\n'
                      f'[inbound_auth]\nenabled = true\nauthserv_id = "{AUTHSERV}"\ntime_limit = 10\n')
    g.start()
    wait_for(lambda: "operational: yes" in g.admin("status")[1], timeout=30, what="gateway operational")
    with open(key, "rb") as f:
        rsa_key = f.read()
    W.update(w=w, g=g, dns=dns, inside=inside, keys={"s2026": rsa_key, "ed2026": ed_key}, smtp_port=smtp_port)
    return W


def message(sender, subject, extra_headers="", body="Quarterly figures attached.\r\n"):
    return (f"From: Someone <{sender}>\r\nTo: <ann@{AGENCY}>\r\nSubject: {subject}\r\n"
            f"Date: Fri, 04 Dec 2026 09:00:00 +1300\r\nMessage-ID: <{subject}@sge.test>\r\n{extra_headers}"
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}")


def signed(text, selector="s2026", domain="sender-a.example"):
    """The message signed by dkimpy: relaxed/relaxed, rsa-sha256 or ed25519-sha256 (by the key)."""
    import dkim
    algorithm = b"ed25519-sha256" if selector.startswith("ed") else b"rsa-sha256"
    field = dkim.sign(text.encode(), selector.encode(), domain.encode(), world()["keys"][selector],
                      canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=algorithm,
                      include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return field.decode().replace("\r\n", "\n").replace("\n", "\r\n") + text


def send(text, envelope_from, source=GOOD_PEER):
    """(code, reply) of the end of DATA, sent from `source` (outside the internal networks)."""
    with smtplib.SMTP("127.0.0.1", world()["g"].port, timeout=60, source_address=(source, 0)) as s:
        s.ehlo("peer.example")
        s.mail(envelope_from)
        code, reply = s.rcpt(f"ann@{AGENCY}")
        check(code == 250, f"RCPT: {code} {reply}")
        code, reply = s.data(text.encode())
        return code, reply.decode(errors="replace")


def delivered(subject):
    sink = world()["inside"]
    wait_for(lambda: any(f"Subject: {subject}" in m.decode(errors="replace") for m in sink.messages()),
             timeout=60, what=f"'{subject}' delivered inside")
    return next(m.decode(errors="replace") for m in sink.messages() if f"Subject: {subject}" in m.decode(errors="replace"))


def ours(delivered_text):
    """Our Authentication-Results field, unfolded."""
    text = re.sub(r"\r?\n[ \t]+", " ", delivered_text)
    fields = re.findall(rf"^Authentication-Results: {re.escape(AUTHSERV)};(.*)$", text, re.M)
    check(len(fields) == 1, f"exactly one Authentication-Results in our name: {fields}\n{delivered_text[:2000]}")
    return fields[0]


def results(field):
    return {m.group(1): m.group(2) for m in re.finditer(r"\b(spf|dkim|dmarc)=(\w+)", field)}


def accepted_with(subject, text, envelope_from, source=GOOD_PEER):
    code, reply = send(text, envelope_from, source)
    check(code == 250, f"{subject}: accepted: {code} {reply}")
    return ours(delivered(subject))


def test_everything_passes_for_a_signed_message_from_an_authorised_host():
    field = accepted_with("all-pass", signed(message("ann@sender-a.example", "all-pass")), "ann@sender-a.example")
    check(results(field) == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}, f"all pass: {field}")
    check("smtp.mailfrom=ann@sender-a.example" in field and "header.d=sender-a.example" in field
          and "header.s=s2026" in field and "header.from=sender-a.example" in field, f"properties: {field}")


def test_an_ed25519_signature_passes():
    field = accepted_with("ed25519", signed(message("ann@sender-a.example", "ed25519"), "ed2026"),
                          "ann@sender-a.example")
    check(results(field)["dkim"] == "pass" and "header.s=ed2026" in field, f"Ed25519 passes: {field}")


def test_dkim_aligned_passes_dmarc_when_spf_fails():
    field = accepted_with("dkim-only", signed(message("ann@sender-a.example", "dkim-only")),
                          "ann@sender-a.example", source=OTHER_PEER)
    check(results(field) == {"spf": "fail", "dkim": "pass", "dmarc": "pass"}, f"spf fail, dmarc pass: {field}")


def test_a_tampered_body_fails_dkim_and_spf_alone_carries_dmarc():
    text = signed(message("ann@sender-a.example", "tampered")).replace("Quarterly figures", "Quarterly figures (revised)")
    field = accepted_with("tampered", text, "ann@sender-a.example")
    check(results(field) == {"spf": "pass", "dkim": "fail", "dmarc": "pass"}, f"dkim fail: {field}")
    check("body hash did not verify" in field, f"says why: {field}")


def test_strict_alignment_wants_the_from_domain_itself():
    relaxed = accepted_with("relaxed-sub", signed(message("ann@news.sender-a.example", "relaxed-sub")),
                            "ann@news.sender-a.example", source=OTHER_PEER)
    check(results(relaxed)["dmarc"] == "pass", f"d=sender-a.example aligns relaxed with news.: {relaxed}")
    code, reply = send(signed(message("ann@strict.sender-a.example", "strict-sub")), "ann@strict.sender-a.example",
                       source=OTHER_PEER)
    check(code == 550, f"adkim=s: d=sender-a.example does not align with strict.sender-a.example: {code} {reply}")


def test_p_reject_is_refused_at_smtp():
    code, reply = send(message("ann@sender-a.example", "spoofed"), "ann@sender-a.example", source=OTHER_PEER)
    check(code == 550 and reply.startswith("5.7.1") and "sender-a.example" in reply and "reject" in reply,
          f"550 5.7.1 with the reason: {code} {reply}")
    check("spoofed" not in "".join(m.decode(errors="replace") for m in world()["inside"].messages()),
          "nothing delivered")
    check(re.search(r"sge: from=<ann@sender-a.example> client=\[127.0.0.6\] spf=fail dkim=none "
                    r"dmarc=fail\(p=reject\) .*→ rejected", world()["g"].log_text()), "the log says what and why")


def test_sp_applies_to_a_subdomain():
    field = accepted_with("subdomain", message("ann@news.sender-a.example", "subdomain"), "ann@news.sender-a.example",
                          source=OTHER_PEER)
    check(results(field)["dmarc"] == "fail" and "p=none" in field, f"sp=none: delivered, failing: {field}")


def held_subjects():
    rc, out = world()["g"].admin("queue", "held")
    check(rc == 0, f"held: {out}")
    return out


def test_p_quarantine_is_held_until_released():
    g = world()["g"]
    code, reply = send(message("ann@quarantine.example", "quarantined"), "ann@quarantine.example", source=OTHER_PEER)
    check(code == 250, f"accepted for quarantine: {code} {reply}")
    wait_for(lambda: "quarantine.example" in held_subjects(), timeout=30, what="the message in the hold queue")
    out = held_subjects()
    check("DMARC policy of quarantine.example (quarantine)" in out, f"the hold says why: {out}")
    check(not any(b"quarantined" in m for m in world()["inside"].messages()), "not delivered while held")
    queue_id = re.search(r"^(\S+)\s.*quarantine\.example", out, re.M).group(1)
    rc, released = g.admin("queue", "release", queue_id)
    check(rc == 0, f"release: {released}")
    field = ours(delivered("quarantined"))
    check(results(field)["dmarc"] == "fail", f"delivered after release, still marked failing: {field}")


def test_pct_zero_takes_the_next_milder_policy():
    code, reply = send(message("ann@pct.example", "sampled-out"), "ann@pct.example", source=OTHER_PEER)
    check(code == 250, f"p=reject with pct=0 is not refused: {code} {reply}")
    wait_for(lambda: "pct.example" in held_subjects(), timeout=30, what="quarantined instead")


def test_no_records_is_none_everywhere():
    field = accepted_with("nothing", message("ann@nothing.example", "nothing"), "ann@nothing.example")
    check(results(field) == {"spf": "none", "dkim": "none", "dmarc": "none"}, f"none: {field}")


def test_forged_results_in_our_name_are_removed_and_others_kept():
    forged = (f"Authentication-Results: {AUTHSERV}; dmarc=pass header.from=sender-a.example\r\n"
              "Authentication-Results: mx.elsewhere.example; spf=pass\r\n")
    text = message("ann@nothing.example", "forged-ar", extra_headers=forged)
    accepted_with("forged-ar", text, "ann@nothing.example")
    delivered_text = delivered("forged-ar")
    check("dmarc=pass header.from=sender-a.example" not in delivered_text, "the forgery is gone")
    check("Authentication-Results: mx.elsewhere.example; spf=pass" in delivered_text, "another's kept")


def test_two_from_fields_are_refused():
    text = message("ann@nothing.example", "two-from", extra_headers="From: boss@sender-a.example\r\n")
    code, reply = send(text, "ann@nothing.example")
    check(code == 550 and "more than one From" in reply, f"refused: {code} {reply}")


def test_a_seemail_members_smime_is_judged_by_its_signature_not_dmarc():
    smime = (f"From: <cio@{MEMBER}>\r\nTo: <ann@agency-b.govt.nz>\r\nSubject: member-smime\r\n"
             "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n")
    code, reply = send(smime, f"cio@{MEMBER}", source=OTHER_PEER)
    check(code == 250, f"S/MIME from a member is the SEEMail stage's to judge: {code} {reply}")
    plain = message(f"cio@{MEMBER}", "member-plain")
    code, reply = send(plain, f"cio@{MEMBER}", source=OTHER_PEER)
    check(code == 550, f"plain mail from a member failing DMARC p=reject is refused: {code} {reply}")


def test_a_dns_failure_defers_and_never_decides():
    code, reply = send(message("ann@flaky.example", "flaky"), "ann@flaky.example", source=OTHER_PEER)
    check(code == 451 and "try again later" in reply, f"451 while DNS cannot answer: {code} {reply}")
    # Servers that take the question and never answer: given up after dns.query_timeout (2 s).
    code, reply = send(message("ann@slow.example", "slow"), "ann@slow.example", source=OTHER_PEER)
    check(code == 451 and "try again later" in reply, f"451 when DNS does not answer: {code} {reply}")


def test_hostile_dns_gives_clear_results():
    cases = {"many": "permerror", "loop": "permerror", "cnameloop": "temperror"}
    for name, want in cases.items():
        sender = f"x@{name}.hostile.example"
        field = accepted_with(f"hostile-{name}", message(sender, f"hostile-{name}"), sender)
        check(results(field)["spf"] == want, f"{name}: spf={want}: {field}")
    # A DKIM-Signature naming a 10 KB key record, and two malformed ones.
    fields = ("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=hostile.example; s=huge; "
              "h=from:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n"
              "DKIM-Signature: v=1; a=rsa-sha256; d=; s=; b=\r\n"
              "DKIM-Signature: \x01\x02 not a tag list at all ;;;===\r\n")
    field = accepted_with("hostile-dkim", message("x@hostile.example", "hostile-dkim", extra_headers=fields),
                          "x@hostile.example")
    verdicts = re.findall(r"dkim=(\w+) \(([^)]*)\)", field)
    check(len(verdicts) == 3 and all(v in ("permerror", "temperror") for v, _ in verdicts),
          f"one result for each field, none passes, each says why: {field}")
    check(world()["g"].proc.poll() is None, "the gateway is still running")


def test_status_counts_what_the_checks_did():
    rc, out = world()["g"].admin("status")
    line = next((l for l in out.splitlines() if l.startswith("inbound checks:")), "")
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (delivered|quarantined|rejected|deferred)", line)}
    check(rc == 0 and f"as {AUTHSERV}" in line and all(counts.get(k, 0) >= 1 for k in
                                                        ("delivered", "quarantined", "rejected", "deferred")),
          f"status counts each outcome: {line!r}")


def unshare_postfix(w, name, port, bind_address):
    """A Postfix instance (tools/postfix-instance) whose resolv.conf, in a mount namespace of its
    own, names the test's unbound: Postfix's DANE needs the system resolver with the AD bit."""
    d = w.sub(name)
    resolv = os.path.join(w.path, name + "-resolv.conf")
    with open(resolv, "w") as f:
        f.write(f"nameserver {RESOLV_FOR_POSTFIX.split('@')[0]}\noptions trust-ad edns0\n")
    script = (f"mount --bind {resolv} /etc/resolv.conf && "
              f"{os.path.join(TOP, 'tools', 'postfix-instance')} {d} {port} 1")
    subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], check=True,
                   stdout=subprocess.DEVNULL)
    settings = ["relayhost =", "smtp_dns_support_level = dnssec", "smtp_tls_security_level = dane",
                "smtp_host_lookup = dns", f"smtp_bind_address = {bind_address}", "myhostname = mx.sender-a.example",
                f"transport_maps = inline:{{{AGENCY}=smtp:{AGENCY}:{world()['smtp_port']}, "
                f"{BRANCH}=smtp:{BRANCH}:{world()['smtp_port']}}}",
                "smtp_tls_loglevel = 1"]
    etc = os.path.join(d, "etc")
    subprocess.run(["postconf", "-c", etc, "-e", *settings], check=True)
    subprocess.run(["postconf", "-c", etc, "-F", "*/*/chroot = n"], check=True)
    subprocess.run(["postfix", "-c", etc, "reload"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return d


def test_a_postfix_peer_with_dane_accepts_our_tlsa_and_refuses_a_mismatch():
    s = world()
    port = free_port()
    d = unshare_postfix(s["w"], "postfix-dane", port, POSTFIX_PEER)
    try:
        for rcpt, subject in ((f"ann@{AGENCY}", "via-dane"), (f"bob@{BRANCH}", "dane-mismatch")):
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
                c.sendmail("ann@sender-a.example", [rcpt], message("ann@sender-a.example", subject).encode())
        text = delivered("via-dane")
        check(results(ours(text))["spf"] == "pass", "Postfix's address is in sender-a.example's SPF")
        maillog = os.path.join(d, "maillog")
        wait_for(lambda: "status=deferred (Server certificate not verified)" in open(maillog, errors="replace").read(),
                 timeout=60, what="Postfix refusing the mismatched TLSA record")
        log = open(maillog, errors="replace").read()
        check(f"verification failed for mx.{BRANCH}" in log and "no matching DANE TLSA records" in log,
              f"for want of a matching TLSA record:\n{log[-3000:]}")
        check(re.search(rf"Verified TLS connection established to gw\.{re.escape(AGENCY)}", log),
              f"Postfix verified our certificate by DANE:\n{log[-3000:]}")
        check(not any(b"dane-mismatch" in m for m in s["inside"].messages()), "nothing over the mismatched record")
    finally:
        subprocess.run([os.path.join(TOP, "tools", "postfix-instance"), "--stop", d])


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: needs root (Postfix, a mount namespace)")
        sys.exit(77)
    missing = [p for p in ("nsd", "unbound", "ldns-signzone", "kdig", "opendkim-genkey",
                           "postfix", "unshare") if subprocess.run(["which", p], stdout=subprocess.DEVNULL).returncode]
    if subprocess.run(["/usr/bin/python3", "-c", "import dkim, nacl"], stderr=subprocess.DEVNULL).returncode:
        missing.append("python3-dkim")
    if missing:
        print(f"skipped: {', '.join(missing)} not installed (tools/install-deps installs them)")
        sys.exit(77)
    try:
        run_tests([f for n, f in list(globals().items()) if n.startswith("test_")])
    finally:
        if W:
            W["dns"].stop()
