"""Secure Government Email, outbound DKIM (RFC 6376, RFC 8463) with keys in the HSM, checked by
real verifiers: the gateway's DKIM keys are generated inside its SoftHSM2 token from the console
commands, their TXT records (as `dkim generate` prints them) go into a DNSSEC-signed zone served
by nsd and validated by unbound, and Postfix with OpenDKIM as its milter receives the gateway's
mail for example.org. Shown: RSA and Ed25519 signatures both pass at OpenDKIM; a message whose
body was changed afterwards fails; mail inside the agency and mail from a domain not ours are not
signed; rotation (a new selector signs, the old is retired) passes with the new key; a signing key
gone from the HSM holds mail (451, retried) until another key signs; `show sge` judges what the
zone publishes.
"""
import os
import re
import smtplib
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BUILD, Gateway, Sink, Workdir, check, free_port, run_tests, wait_for  # noqa: E402
from sge_world import (TOP, OpenDkimVerifier, PolicyServer, PostfixWithMilter, SignedDns, make_ca,  # noqa: E402
                       tlsa_3_1_1)

STS_DOMAINS = ("example.edu", "example.info", "example.biz", "example.xyz")


def sts_policy(mode, mx):
    return f"version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n"


TLSRPT = '_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.org"'


def sts_zone(domain):
    return [f"@ IN MX 10 mx.{domain}.", "mx IN A 127.0.0.1", "mta-sts IN A 127.0.0.1",
            '_mta-sts IN TXT "v=STSv1; id=2026120401"', TLSRPT]

HSM_TOOL = os.path.join(BUILD, "crypto-hsm", "seegw-hsm")
AGENCY = "agency-a.govt.nz"
W = {}


def world():
    if W:
        return W
    w = Workdir("sge-dkim")
    os.chmod(w.path, 0o755)  # Postfix's daemons run as postfix inside it
    pki, token = os.path.join(w.path, "pki"), os.path.join(w.path, "token-a")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(TOP, "tools", "make-test-hsm"), token, AGENCY, pki, HSM_TOOL], check=True,
                   stdout=subprocess.DEVNULL)
    snapshot = os.path.join(w.path, "policy.toml")
    with open(snapshot, "w") as f:
        f.write(f'version = 1\ntrusted_roots = ["{pki}/agency-a/ca.pem"]\ncrls = ["{pki}/agency-a/crl.pem"]\n'
                f'[[agency]]\ndomain = "{AGENCY}"\ncommunity = "restricted"\ncertificate = "{token}/dca.pem"\n')
    mailbox, inside = Sink(w, "example-org"), Sink(w, "inside")
    postfix_port = free_port()
    # A web PKI of the test's own: Postfix's certificate names mx.example.org and mx.example.edu
    # (not mx.example.info or mx.example.biz); the MTA-STS policy server's names every mta-sts host.
    web = make_ca(w, {"mx": ["mx.example.org", "mx.example.edu"],
                      "sts": [f"mta-sts.{d}" for d in STS_DOMAINS]})
    policies = PolicyServer(*web["sts"], {
        "example.edu": sts_policy("enforce", "mx.example.edu"),
        "example.info": sts_policy("enforce", "*.example.info"),
        "example.biz": sts_policy("testing", "mx.example.biz"),
        "example.xyz": sts_policy("enforce", "mx.example.xyz") + "x" * 70000})
    W["policies"] = policies
    dns = SignedDns(w, [AGENCY, "example.org", "example.net", "example.com", *STS_DOMAINS])
    anchors = ", ".join(f'"{dns.anchor(z)}"' for z in dns.zones)
    # Direct delivery: every domain's mail exchangers, on Postfix's port (the test's port 25).
    g = Gateway(w, name="gw-a", internal_sink=inside, outbound_host="mx",
                env=dict(os.environ, SOFTHSM2_CONF=os.path.join(token, "softhsm2.conf")),
                extra=f'mx_port = {postfix_port}\nmta_sts_port = {policies.port}\n'
                      f'mta_sts_ca_file = "{web["ca"]}"\n[policy]\nsnapshot = "{snapshot}"\n[hsm]\ntoken = "{AGENCY}"\n'
                      f'pin_file = "{token}/user.pin"\nkey_label = "dca"\ncheck_interval = 1\n'
                      f'[dns]\nforwarders = ["127.0.0.1@{dns.port}"]\ntrust_anchors = [{anchors}]\n'
                      # A static next hop held to tls = "verify": Postfix's certificate does not
                      # name 127.0.0.1, so nothing may go there.
                      f'[[route]]\ndomains = ["verify.example"]\nnext_hop = "127.0.0.1:{postfix_port}"\n'
                      f'tls = "verify"\n'
                      f'[[route]]\ndomains = ["encrypt.example"]\nnext_hop = "127.0.0.1:{postfix_port}"\n'
                      f'tls = "encrypt"\n')
    W.update(w=w, g=g, mailbox=mailbox, inside=inside, token=token)
    g.start()
    wait_for(lambda: "operational: yes" in g.admin("status")[1], timeout=30, what="gateway operational")
    records = {}
    for selector, kind in (("rsa2026", "rsa"), ("ed2026", "ed25519"), ("rsa2027", "rsa"), ("stale", "rsa")):
        rc, out = g.admin("dkim", "generate", selector, kind)
        check(rc == 0 and "generated inside the HSM" in out, f"dkim generate {selector}: {out}")
        records[selector] = next(line for line in out.splitlines() if f"._domainkey.{AGENCY}. " in line)
    # `stale` is published with another key's p= (a record left from an earlier key); the agency
    # asks only for quarantine and has no MTA-STS record yet: `show sge` must say so.
    records["stale"] = "stale" + records["rsa2026"][len("rsa2026"):]
    agency_zone = list(records.values()) + [
        '@ IN TXT "v=spf1 mx -all"', '@ IN MX 10 gw', 'gw IN A 127.0.0.1',
        f'_dmarc IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{AGENCY}"',
        f'_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@{AGENCY}"']
    # Postfix (every domain's exchanger here) offers STARTTLS; example.org publishes its key's
    # TLSA record (DANE-EE), example.com one that matches nothing.
    tls = web["mx"]
    tlsa = tlsa_3_1_1(tls[0])
    dns.start({AGENCY: agency_zone,
               "example.org": ["@ IN MX 10 mx.example.org.", "mx IN A 127.0.0.1", "nullmx IN MX 0 .",
                               f"_{postfix_port}._tcp.mx IN TLSA 3 1 1 {tlsa}"],
               "example.com": ["@ IN MX 10 mx.example.com.", "mx IN A 127.0.0.1", TLSRPT,
                               f"_{postfix_port}._tcp.mx IN TLSA 3 1 1 {'00' * 32}"],
               **{d: sts_zone(d) for d in STS_DOMAINS},
               # The preferred exchanger does not answer (nothing listens on 127.0.0.2).
               "example.net": ["@ IN MX 10 mx1.example.net.", "@ IN MX 20 mx2.example.net.",
                               "mx1 IN A 127.0.0.2", "mx2 IN A 127.0.0.1"]},
              silent_zones=["silent.example"])
    verifier = OpenDkimVerifier(w, dns)
    postfix = PostfixWithMilter(w, verifier.port, mailbox.port, port=postfix_port, tls=tls)
    W.update(dns=dns, verifier=verifier, postfix=postfix)
    return W


def send(port, sender, recipient, subject, body="Budget figures attached.\r\n"):
    msg = (f"From: Someone <{sender}>\r\nTo: <{recipient}>\r\nSubject: {subject}\r\n"
           f"Date: Fri, 04 Dec 2026 09:00:00 +1300\r\nMessage-ID: <{subject}@{AGENCY}>\r\n"
           f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail(sender, [recipient], msg)
    return msg


def messages(sink):
    return [m.decode(errors="replace") for m in sink.messages()]


def arrived(sink, subject):
    wait_for(lambda: any(f"Subject: {subject}" in m for m in messages(sink)), timeout=60,
             what=f"'{subject}' at the sink")
    return next(m for m in messages(sink) if f"Subject: {subject}" in m)


def results(message):
    """OpenDKIM's verdicts: {selector: result} from the verifier's Authentication-Results."""
    text = re.sub(r"\r?\n[ \t]+", " ", message)
    out = {}
    for field in re.findall(r"^Authentication-Results: verifier\.example\.org;(.*)$", text, re.M):
        for verdict in field.split("dkim=")[1:]:
            selector = re.search(r"header\.s=([\w.-]+)", verdict)
            if selector:
                out[selector.group(1)] = re.match(r"\w+", verdict).group(0)
        if "dkim=none" in field:
            out["none"] = "none"
    return out


def test_the_published_keys_resolve_validated():
    s = world()
    flags, answers = s["dns"].dig(f"ed2026._domainkey.{AGENCY}", "TXT")
    check(" ad" in flags.lower(), f"unbound validated the DKIM record (AD): {flags}")
    check(any("k=ed25519" in a for a in answers), f"the Ed25519 key is published: {answers}")


def test_show_sge_checks_what_our_dns_publishes():
    s = world()
    rc, out = s["g"].admin("sge")
    check(rc == 0, f"sge: {out}")
    rows = {}
    for line in out.splitlines():
        m = re.match(r"(ok|MISSING|WRONG|WEAK|UNKNOWN)\s+(.+?)\s{2,}\S+\s+(.*)$", line)
        if m:
            rows[m.group(2).strip()] = (m.group(1), m.group(3))
    expected = {"SPF": "ok", "DMARC": "WEAK", "MTA-STS": "MISSING", "TLS-RPT": "ok", "DKIM rsa2026": "ok",
                "DKIM ed2026": "ok", "DKIM rsa2027": "ok", "DKIM stale": "WRONG"}
    got = {k: v[0] for k, v in rows.items()}
    check(got == expected, f"show sge judged {got}, expected {expected}:\n{out}")
    check("p=reject" in rows["DMARC"][1], f"says why: {rows['DMARC']}")
    check(all("[DNSSEC]" in v[1] for k, v in rows.items() if v[0] != "MISSING"), f"validated answers:\n{out}")
    check(f'_mta-sts.{AGENCY}. IN TXT "v=STSv1; id=' in out and f'stale._domainkey.{AGENCY}. 3600 IN TXT' in out,
          f"the lines to publish:\n{out}")


def test_rsa_and_ed25519_signatures_pass_at_opendkim():
    s = world()
    g = s["g"]
    for selector in ("rsa2026", "ed2026"):
        rc, out = g.admin("dkim", "sign", selector)
        check(rc == 0, f"dkim sign {selector}: {out}")
    send(g.port, f"someone@{AGENCY}", "friend@example.org", "dkim-both")
    message = arrived(s["mailbox"], "dkim-both")
    check(message.count("DKIM-Signature:") == 2, "two signatures, RSA and Ed25519")
    verdicts = results(message)
    check(verdicts.get("rsa2026") == "pass" and verdicts.get("ed2026") == "pass",
          f"OpenDKIM passes both: {verdicts}\n{message[:3000]}")
    check("a=ed25519-sha256" in message and "a=rsa-sha256" in message, "both algorithms")


def test_a_body_changed_after_signing_fails():
    s = world()
    signed = arrived(s["mailbox"], "dkim-both")
    header, _, body = signed.partition("\r\n\r\n") if "\r\n\r\n" in signed else signed.partition("\n\n")
    kept = [f for f in re.split(r"\r?\n(?![ \t])", header)
            if not f.startswith(("Authentication-Results:", "Received:", "X-"))]
    tampered = "\r\n".join(kept) + "\r\n\r\n" + body.replace("Budget figures", "Budget figures (revised)")
    with smtplib.SMTP("127.0.0.1", s["postfix"].port, timeout=30) as c:
        c.sendmail(f"someone@{AGENCY}", ["tampered@example.org"], tampered.encode())
    wait_for(lambda: any("(revised)" in m for m in messages(s["mailbox"])), timeout=60, what="the tampered copy")
    verdicts = results(next(m for m in messages(s["mailbox"]) if "(revised)" in m))
    check(verdicts.get("rsa2026") == "fail" and verdicts.get("ed2026") == "fail",
          f"OpenDKIM fails both on a changed body: {verdicts}")


def test_mail_inside_the_agency_and_from_other_domains_is_not_signed():
    s = world()
    g = s["g"]
    send(g.port, f"someone@{AGENCY}", f"colleague@{AGENCY}", "dkim-inside")
    check("DKIM-Signature:" not in arrived(s["inside"], "dkim-inside"), "internal mail is not signed")
    send(g.port, "someone@elsewhere.example", "friend@example.org", "dkim-foreign")
    message = arrived(s["mailbox"], "dkim-foreign")
    check("DKIM-Signature:" not in message, "a From: not ours is not signed")
    check(results(message).get("none") == "none", f"OpenDKIM saw no signature: {results(message)}")


def test_rotation_signs_with_the_new_key_and_retires_the_old():
    s = world()
    g = s["g"]
    rc, out = g.admin("dkim", "sign", "rsa2027")
    check(rc == 0 and "rsa2026 no longer does" in out, f"dkim sign rsa2027: {out}")
    rc, out = g.admin("dkim", "retire", "rsa2026")
    check(rc == 0, f"dkim retire rsa2026: {out}")
    rc, out = g.admin("dkim", "list")
    check("rsa2026" not in out and re.search(r"rsa2027\s+rsa\s+signing", out), f"dkim list: {out}")
    send(g.port, f"someone@{AGENCY}", "friend@example.org", "dkim-rotated")
    verdicts = results(arrived(s["mailbox"], "dkim-rotated"))
    check(verdicts == {"rsa2027": "pass", "ed2026": "pass"}, f"the new RSA key and Ed25519 pass: {verdicts}")
    check(s["g"].admin("sge")[1].count("DKIM rsa2026") == 0, "the retired key's record is no longer asked for")


def test_a_signing_key_gone_from_the_hsm_holds_mail_until_another_signs():
    s = world()
    g, token = s["g"], s["token"]
    # Someone removes the signing Ed25519 key in the HSM itself, behind the gateway's back.
    for kind in ("privkey", "pubkey"):
        subprocess.run(["pkcs11-tool", "--module", "/usr/lib/softhsm/libsofthsm2.so", "--token-label", AGENCY,
                        "--login", "--pin", open(os.path.join(token, "user.pin")).read().strip(),
                        "--delete-object", "--type", kind, "--label", "dkim-ed2026"],
                       env=dict(os.environ, SOFTHSM2_CONF=os.path.join(token, "softhsm2.conf")), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    send(g.port, f"someone@{AGENCY}", "friend@example.org", "dkim-keygone")
    wait_for(lambda: "waits: DKIM key ed2026" in g.log_text(), timeout=30, what="the message waiting for DKIM")
    check(not any("dkim-keygone" in m for m in messages(s["mailbox"])), "nothing left unsigned")
    for words in (("generate", "ed2027", "ed25519"), ("sign", "ed2027")):
        rc, out = g.admin("dkim", *words)
        check(rc == 0, f"dkim {' '.join(words)}: {out}")
    message = arrived(s["mailbox"], "dkim-keygone")
    check(message.count("DKIM-Signature:") == 2 and "s=ed2027;" in message, "signed by both, the new Ed25519 key")
    check(results(message).get("rsa2027") == "pass", f"the RSA signature passes: {results(message)}")
    check(sum("dkim-keygone" in m for m in messages(s["mailbox"])) == 1, "delivered once")


def test_direct_delivery_follows_mx_preference_and_fallback():
    s = world()
    g = s["g"]
    send(g.port, f"someone@{AGENCY}", "friend@example.net", "mx-fallback")
    arrived(s["mailbox"], "mx-fallback")
    log = g.log_text()
    check("mx1.example.net[127.0.0.2" in log and "trying the next mail exchanger, mx2.example.net[127.0.0.1" in log,
          f"the preferred exchanger first, then the next:\n{log[-2000:]}")


def test_a_silent_dns_server_does_not_hold_up_other_mail():
    """Lookups for a domain whose servers never answer wait on threads of their own: with more of
    them than the TBB pool has threads, mail to other domains still goes at once."""
    s = world()
    g = s["g"]
    for i in range(4):
        send(g.port, f"someone@{AGENCY}", f"friend{i}@silent.example", f"silent-{i}")
    send(g.port, f"someone@{AGENCY}", "friend@example.org", "not-held-up")
    arrived(s["mailbox"], "not-held-up")
    check("relay: silent.example:" not in g.log_text(),
          "delivered while silent.example's lookups were still waiting")
    wait_for(lambda: "relay: silent.example:" in g.log_text(), timeout=120,
             what="silent.example's lookups given up (the messages wait, 451)")


def test_a_null_mx_or_no_such_domain_bounces_at_once():
    s = world()
    g = s["g"]
    send(g.port, f"someone@{AGENCY}", "friend@nullmx.example.org", "mx-null")
    send(g.port, f"someone@{AGENCY}", "friend@nosuch.example.org", "mx-nxdomain")
    for code, what in (("5.1.10", "null MX"), ("5.1.2", "no domain nosuch.example.org")):
        wait_for(lambda: any(code in m and what in m for m in messages(s["inside"])), timeout=30,
                 what=f"a bounce saying {code} {what}")
    check(not any("mx-null" in m or "mx-nxdomain" in m for m in messages(s["mailbox"])), "nothing delivered")


def test_dane_authenticates_the_exchanger_or_nothing_is_sent():
    s = world()
    g = s["g"]
    send(g.port, f"someone@{AGENCY}", "friend@example.org", "dane-match")
    message = arrived(s["mailbox"], "dane-match")
    check(re.search(r"mx\.example\.org\[127\.0\.0\.1:\d+\] authenticated by its TLSA records", g.log_text()),
          "the TLSA record matched")
    check(re.search(r"using TLSv1\.[23]", message), "the message went over TLS")
    send(g.port, f"someone@{AGENCY}", "friend@example.com", "dane-mismatch")
    wait_for(lambda: re.search(r"mx\.example\.com\[127\.0\.0\.1:\d+\] unavailable: TLS handshake failed",
                               g.log_text()), timeout=30, what="the refused handshake")
    time.sleep(2)  # a retry or two (retry_base 1 s): still nothing sent
    check(not any("dane-mismatch" in m for m in messages(s["mailbox"])),
          "nothing sent to an exchanger its TLSA records do not match")
    check(not any("dane-mismatch" in m for m in messages(s["inside"])), "and no bounce: it waits")


def test_mta_sts_enforce_refuses_a_wrong_certificate_and_testing_delivers_and_reports():
    s = world()
    g = s["g"]
    for domain, subject in (("example.edu", "sts-enforce-good"), ("example.info", "sts-enforce-bad"),
                            ("example.biz", "sts-testing"), ("example.xyz", "sts-oversize")):
        send(g.port, f"someone@{AGENCY}", f"friend@{domain}", subject)
    arrived(s["mailbox"], "sts-enforce-good")
    check(re.search(r"mx\.example\.edu\[127\.0\.0\.1:\d+\] authenticated for MTA-STS", g.log_text()),
          "enforce: the certificate chains and names the MX host")
    arrived(s["mailbox"], "sts-testing")
    check(re.search(r"mx\.example\.biz\[127\.0\.0\.1:\d+\]: MTA-STS testing: its certificate would be "
                    r"refused \(hostname mismatch\)", g.log_text()), "testing: delivered, the failure logged")
    arrived(s["mailbox"], "sts-oversize")
    check("MTA-STS policy of example.xyz: larger than 65536 bytes" in g.log_text(),
          "an oversize policy is no policy, and said so")
    # A failed fetch is not tried again for every message (each could wait the whole timeout).
    send(g.port, f"someone@{AGENCY}", "friend@example.xyz", "sts-oversize-again")
    arrived(s["mailbox"], "sts-oversize-again")
    check(s["policies"].requests.get("mta-sts.example.xyz") == 1,
          f"the broken policy was fetched once: {s['policies'].requests}")
    wait_for(lambda: re.search(r"mx\.example\.info\[127\.0\.0\.1:\d+\] unavailable: TLS handshake failed",
                               g.log_text()), timeout=30, what="the refused certificate")
    time.sleep(2)
    check(not any("sts-enforce-bad" in m for m in messages(s["mailbox"])),
          "enforce: nothing sent to a host whose certificate does not name it")


def test_a_route_held_to_verify_refuses_a_certificate_that_does_not_name_it():
    s = world()
    g = s["g"]
    # The same next hop at `encrypt` first: its (unverified) connection must not carry `verify` mail.
    send(g.port, f"someone@{AGENCY}", "friend@encrypt.example", "tls-encrypt")
    arrived(s["mailbox"], "tls-encrypt")
    send(g.port, f"someone@{AGENCY}", "friend@verify.example", "tls-verify")
    wait_for(lambda: re.search(r"relay: 127\.0\.0\.1:\d+ unavailable: TLS handshake failed", g.log_text()),
             timeout=30, what="the refused handshake")
    time.sleep(1.5)
    check(not any("tls-verify" in m for m in messages(s["mailbox"])), "nothing sent to an unverified next hop")


def tls_reports(mailbox):
    """{policy domain: report JSON} of the TLS reports that arrived."""
    import base64
    import email
    import gzip
    import json
    out = {}
    for m in messages(mailbox):
        if "TLS-Report-Domain:" not in m:
            continue
        msg = email.message_from_string(m)
        for part in msg.walk():
            if part.get_content_type() == "application/tlsrpt+gzip":
                out[msg["TLS-Report-Domain"]] = json.loads(gzip.decompress(base64.b64decode(part.get_payload())))
    return out


def test_a_tls_report_counts_what_each_policy_domain_saw():
    s = world()
    g = s["g"]
    rc, out = g.admin("tls-report")
    check(rc == 0 and "example.info: to tlsrpt@example.org" in out, f"tls-report: {out}")
    wanted = {"example.info", "example.edu", "example.com", "example.biz"}
    wait_for(lambda: wanted <= set(tls_reports(s["mailbox"])), timeout=60, what="the TLS reports")
    reports = tls_reports(s["mailbox"])

    def summary(domain):
        (policy,) = reports[domain]["policies"]
        return policy["policy"]["policy-type"], policy["summary"], policy["failure-details"]

    kind, counts, details = summary("example.info")
    check(kind == "sts" and counts["total-failure-session-count"] >= 1 and
          details[0]["result-type"] == "certificate-host-mismatch" and
          details[0]["receiving-mx-hostname"] == "mx.example.info", f"enforce refused: {reports['example.info']}")
    kind, counts, details = summary("example.edu")
    check(kind == "sts" and counts == {"total-successful-session-count": 1, "total-failure-session-count": 0},
          f"enforce passed: {reports['example.edu']}")
    kind, counts, details = summary("example.com")
    check(kind == "tlsa" and counts["total-failure-session-count"] >= 1 and
          details[0]["result-type"] == "validation-failure", f"DANE refused: {reports['example.com']}")
    kind, counts, details = summary("example.biz")
    check(kind == "sts" and counts["total-failure-session-count"] == 1 and
          counts["total-successful-session-count"] == 0, f"testing: delivered, reported: {reports['example.biz']}")
    check(reports["example.edu"]["organization-name"] == AGENCY, "we are the submitter")
    rc, out = g.admin("tls-report")
    check("example.edu" not in out and "example.biz" not in out, f"each session counted once: {out}")


def teardown():
    if "policies" in W:
        W["policies"].stop()
    for key in ("postfix", "verifier", "dns", "g"):
        if key in W:
            W[key].stop()
    if "w" in W:
        W["w"].remove()


if __name__ == "__main__":
    for tool in ("nsd", "unbound", "opendkim", "ldns-signzone", "kdig", "postfix"):
        if subprocess.run(["sh", "-c", f"command -v {tool} || test -x /usr/sbin/{tool}"],
                          stdout=subprocess.DEVNULL).returncode != 0:
            print(f"SKIP: {tool} is not installed (tools/install-deps)")
            sys.exit(77)
    if os.geteuid() != 0:  # Postfix runs its daemons as postfix
        print("SKIP: needs root (a Postfix instance)")
        sys.exit(77)
    try:
        run_tests([test_the_published_keys_resolve_validated, test_show_sge_checks_what_our_dns_publishes,
                   test_rsa_and_ed25519_signatures_pass_at_opendkim,
                        test_a_body_changed_after_signing_fails,
                        test_mail_inside_the_agency_and_from_other_domains_is_not_signed,
                        test_rotation_signs_with_the_new_key_and_retires_the_old,
                        test_a_signing_key_gone_from_the_hsm_holds_mail_until_another_signs,
                        test_direct_delivery_follows_mx_preference_and_fallback,
                        test_a_silent_dns_server_does_not_hold_up_other_mail,
                        test_a_null_mx_or_no_such_domain_bounces_at_once,
                        test_dane_authenticates_the_exchanger_or_nothing_is_sent,
                        test_mta_sts_enforce_refuses_a_wrong_certificate_and_testing_delivers_and_reports,
                        test_a_tls_report_counts_what_each_policy_domain_saw,
                        test_a_route_held_to_verify_refuses_a_certificate_that_does_not_name_it])
    finally:
        teardown()
