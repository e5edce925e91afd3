#!/usr/bin/python3
"""crypto-hsm against independent implementations, with a real SoftHSM2 token made at test time:
keys are generated inside the token and cannot leave it; what seegw signs and encrypts (key in
the token) OpenSSL's `cms` decrypts and verifies; what `openssl cms` signs and encrypts to the
token's certificate, seegw decrypts and verifies. Rules OUT-1, OUT-6, OUT-7, IN-1, IN-3, IN-4, OPS-5."""
import os
import subprocess

from harness import BUILD, Workdir, check, run_tests

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
HSM_TOOL = os.path.join(BUILD, "crypto-hsm", "seegw-hsm")
STATE = {}

MESSAGE = (b"From: alice@agency-a.govt.nz\r\nTo: carol@agency-c.govt.nz\r\nSubject: quarterly figures\r\n"
           b"Date: Sun, 22 Nov 2026 21:00:00 +0000\r\nMessage-ID: <m1@agency-a.govt.nz>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nKia ora.\r\n.dot line\r\n\xc4\x81 8-bit\r\n")


def setup():
    if STATE:
        return STATE
    w = Workdir("smime")
    pki, token = os.path.join(w.path, "pki"), os.path.join(w.path, "token-a")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(TOP, "tools", "make-test-hsm"), token, "agency-a.govt.nz", pki, HSM_TOOL],
                   check=True, stdout=subprocess.DEVNULL)
    msg = os.path.join(w.path, "message.eml")
    with open(msg, "wb") as f:
        f.write(MESSAGE)
    env = dict(os.environ, SOFTHSM2_CONF=os.path.join(token, "softhsm2.conf"))
    STATE.update(w=w, pki=pki, token=token, msg=msg, env=env)
    return STATE


def path(*parts):
    return os.path.join(STATE["w"].path, *parts)


def hsm(*args, check_rc=True):
    s = setup()
    r = subprocess.run([HSM_TOOL, "--token", "agency-a.govt.nz", "--pin-file", os.path.join(s["token"], "user.pin"),
                        *args], capture_output=True, env=s["env"], timeout=120)
    if check_rc:
        check(r.returncode == 0, f"seegw-hsm {' '.join(args)}: {r.stderr.decode()}")
    return r


def openssl(*args):
    r = subprocess.run(["openssl", *args], capture_output=True, timeout=120)
    check(r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr.decode()}")
    return r


def test_keys_are_generated_inside_the_token_and_cannot_leave():
    s = setup()
    listing = hsm("list").stdout.decode()
    check("label=dca type=RSA" in listing, listing)
    for attr in ("sensitive=yes", "extractable=no", "always_sensitive=yes", "never_extractable=yes",
                 "private_value_readable=no"):
        check(attr in listing, f"{attr} missing: {listing}")
    for label, key_type, kind in (("spare-ec", "ec:P-256", "EC"), ("spare-ec384", "ec:P-384", "EC"),
                                  ("spare-3072", "rsa:3072", "RSA"), ("spare-4096", "rsa:4096", "RSA")):
        hsm("keygen", "--label", label, "--type", key_type)
        listed = hsm("list").stdout.decode()
        check(f"label={label} type={kind} sensitive=yes extractable=no" in listed, listed)
    r = hsm("keygen", "--label", "spare-ec", "--type", "rsa:1024", check_rc=False)
    check(r.returncode != 0 and b"unknown key type" in r.stderr, "RSA-1024 is not offered")
    for label in ("spare-ec384", "spare-3072", "spare-4096"):
        hsm("retire", "--label", label)
    # OPS-5: retire a key; it is gone afterwards.
    hsm("retire", "--label", "spare-ec")
    check("spare-ec" not in hsm("list").stdout.decode(), "retired key still listed")
    # The PIN file must be owner-only.
    loose = path("loose.pin")
    with open(os.path.join(s["token"], "user.pin")) as f, open(loose, "w") as g:
        g.write(f.read())
    os.chmod(loose, 0o644)
    r = subprocess.run([HSM_TOOL, "--token", "agency-a.govt.nz", "--pin-file", loose, "list"],
                       capture_output=True, env=s["env"])
    check(r.returncode != 0 and b"readable by group or others" in r.stderr, r.stderr)


def pkcs11_objects():
    """The token's objects as an independent PKCS#11 consumer (PyKCS11, Debian python3-pykcs11) sees
    them: (class, label, id, subject, issuer, serial, value) per object."""
    script = r"""
import PyKCS11, sys, json
lib = PyKCS11.PyKCS11Lib(); lib.load("/usr/lib/softhsm/libsofthsm2.so")
slot = [s for s in lib.getSlotList(tokenPresent=True)
        if lib.getTokenInfo(s).label.strip() == "agency-a.govt.nz"][0]
session = lib.openSession(slot); session.login(open(sys.argv[1]).read().split()[0])
out = []
for cls in (PyKCS11.CKO_CERTIFICATE, PyKCS11.CKO_PRIVATE_KEY):
    for o in session.findObjects([(PyKCS11.CKA_CLASS, cls)]):
        names = [PyKCS11.CKA_LABEL, PyKCS11.CKA_ID]
        if cls == PyKCS11.CKO_CERTIFICATE:
            names += [PyKCS11.CKA_SUBJECT, PyKCS11.CKA_ISSUER, PyKCS11.CKA_SERIAL_NUMBER, PyKCS11.CKA_VALUE]
        values = session.getAttributeValue(o, names)
        row = {"class": "cert" if cls == PyKCS11.CKO_CERTIFICATE else "key", "label": values[0],
               "id": bytes(values[1]).hex()}
        if cls == PyKCS11.CKO_CERTIFICATE:
            row.update(subject=bytes(values[2]).hex(), issuer=bytes(values[3]).hex(),
                       serial=bytes(values[4]).hex(), value=bytes(values[5]).hex())
        out.append(row)
print(json.dumps(out))
"""
    s = setup()
    r = subprocess.run(["/usr/bin/python3", "-c", script, os.path.join(s["token"], "user.pin")],
                       capture_output=True, env=s["env"], timeout=60)
    check(r.returncode == 0, r.stderr.decode())
    import json
    return json.loads(r.stdout)


def der_field(cert_der, which):
    """The DER of a certificate's serial number, issuer or subject (RFC 5280 §4.1: TBSCertificate
    is [0] version, serialNumber, signature, issuer, validity, subject, ...)."""
    def tlv(b, i):  # (start, end) of the TLV at i, and where its content starts
        n = b[i + 1]
        if n < 0x80:
            return i, i + 2 + n, i + 2
        k = n & 0x7F
        length = int.from_bytes(b[i + 2:i + 2 + k], "big")
        return i, i + 2 + k + length, i + 2 + k
    _, _, tbs = tlv(cert_der, 0)             # Certificate
    _, _, i = tlv(cert_der, tbs)             # TBSCertificate
    fields = []
    while len(fields) < 6:
        start, end, _ = tlv(cert_der, i)
        if not (not fields and cert_der[start] == 0xA0):  # skip the explicit version
            fields.append(cert_der[start:end])
        i = end
    return fields[{"serial": 0, "issuer": 2, "subject": 4}[which]].hex()


def test_the_token_is_a_standard_pkcs11_token():
    """Another PKCS#11 consumer pairs the certificate with its key (CKA_ID) and finds it by
    subject, issuer and serial number (PKCS#11 X.509 certificate attributes), after a renewal too."""
    s = setup()
    first_serial = None
    for round_ in ("as made", "after a renewal"):
        objects = pkcs11_objects()
        certs = [o for o in objects if o["class"] == "cert" and o["label"] == "dca"]
        keys = [o for o in objects if o["class"] == "key" and o["label"] == "dca"]
        check(len(certs) == 1 and len(keys) == 1, f"{round_}: one certificate, one key: {objects}")
        cert, key = certs[0], keys[0]
        check(cert["id"] == key["id"] and cert["id"], f"{round_}: CKA_ID pairs them")
        der = bytes.fromhex(cert["value"])
        for field in ("subject", "issuer", "serial"):
            check(cert[field] == der_field(der, field), f"{round_}: CKA_{field.upper()} is the certificate's")
        if first_serial:
            check(cert["serial"] != first_serial, "the renewed certificate is the one kept")
            break
        first_serial = cert["serial"]
        # Renewal: a new certificate for the same key replaces the old one (no duplicates).
        csr = hsm("csr", "--label", "dca", "--email", "domain-confidentiality-authority@agency-a.govt.nz").stdout
        with open(path("renew.csr"), "wb") as f:
            f.write(csr)
        ca = os.path.join(s["pki"], "agency-a")
        openssl("ca", "-batch", "-config", os.path.join(ca, "ca.cnf"), "-cert", os.path.join(ca, "ca.pem"),
                "-keyfile", os.path.join(ca, "ca.key"), "-in", path("renew.csr"), "-out", path("renew.pem"),
                "-notext", "-days", "300")
        hsm("import-cert", "--label", "dca", path("renew.pem"))
    hsm("import-cert", "--label", "dca", os.path.join(s["token"], "dca.pem"))  # as the other tests expect


def test_seegw_protects_openssl_unprotects_every_cipher():
    s = setup()
    c_cert, c_key = os.path.join(s["pki"], "certs", "agency-c-dca.pem"), os.path.join(s["pki"], "certs", "agency-c-dca.key")
    for cipher, oaep, smime_type in (("aes256-cbc", False, b"enveloped-data"), ("aes256-gcm", False, b"authEnveloped-data"),
                                     ("aes192-cbc", True, b"enveloped-data"), ("aes128-cbc", False, b"enveloped-data"),
                                     ("des3", True, b"enveloped-data")):
        out = path(f"out-{cipher}.eml")
        args = ["protect", "--label", "dca", "--recipient", c_cert, "--cipher", cipher, "--privacy-mark", "RESTRICTED",
                "--chain", os.path.join(s["pki"], "agency-a", "ca.pem")]
        hsm(*args, *(["--oaep"] if oaep else []), s["msg"], out)
        with open(out, "rb") as f:
            wire = f.read()
        check(b"Subject: SEEMail secure message\r\n" in wire and b"smime-type=" + smime_type in wire, wire[:400])
        check(b"Kia ora" not in wire and b"quarterly figures" not in wire, "plain text on the wire (OUT-9)")
        openssl("cms", "-decrypt", "-in", out, "-recip", c_cert, "-inkey", c_key, "-out", path("signed.eml"))
        openssl("cms", "-verify", "-in", path("signed.eml"), "-CAfile", os.path.join(s["pki"], "agency-a", "ca.pem"),
                "-binary", "-out", path("inner.eml"))
        with open(path("inner.eml"), "rb") as f:
            inner = f.read()
        check(inner == b"Content-Type: message/rfc822\r\n\r\n" + MESSAGE, inner[:200])
        printed = openssl("cms", "-cmsout", "-print", "-in", path("signed.eml")).stdout
        check(b"S/MIME Capabilities" in printed and b"aes-256-cbc" in printed, "SMIMECapabilities attribute (OUT-7)")
        check(b"id-smime-aa-securityLabel" in printed or b"1.2.840.113549.1.9.16.2.2" in printed, "security label")
        check(b"domain-confidentiality-authority" in printed, "signer certificate included (OUT-7)")
        check(b"agency-a Root CA" in printed and printed.count(b"cert_info:") == 2, "and its chain (OUT-7)")


def test_rsa_1024_and_4096_peer_certificates_work():
    """§2.4: a peer's RSA-1024 or RSA-4096 domain certificate is encrypted to, and the peer (here
    OpenSSL with its key) decrypts and verifies."""
    s = setup()
    for bits in (1024, 4096):
        key, cert = path(f"peer-{bits}.key"), path(f"peer-{bits}.pem")
        openssl("req", "-x509", "-newkey", f"rsa:{bits}", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                "-subj", "/CN=domain-confidentiality-authority",
                "-addext", "subjectAltName=email:domain-confidentiality-authority@peer.govt.nz")
        out = path(f"to-{bits}.eml")
        hsm("protect", "--label", "dca", "--recipient", cert, s["msg"], out)
        openssl("cms", "-decrypt", "-in", out, "-recip", cert, "-inkey", key, "-out", path(f"signed-{bits}.eml"))
        openssl("cms", "-verify", "-in", path(f"signed-{bits}.eml"), "-CAfile",
                os.path.join(s["pki"], "agency-a", "ca.pem"), "-binary", "-out", path(f"inner-{bits}.eml"))
        with open(path(f"inner-{bits}.eml"), "rb") as f:
            check(f.read() == b"Content-Type: message/rfc822\r\n\r\n" + MESSAGE, f"RSA-{bits}: the message")


def test_openssl_protects_seegw_unprotects():
    s = setup()
    c_cert, c_key = os.path.join(s["pki"], "certs", "agency-c-dca.pem"), os.path.join(s["pki"], "certs", "agency-c-dca.key")
    token_cert = os.path.join(s["token"], "dca.pem")
    cases = {
        "opaque-aes256": (["-nodetach"], ["-aes256", token_cert]),
        "detached-aes128-oaep": ([], ["-aes128", "-recip", token_cert, "-keyopt", "rsa_padding_mode:oaep"]),
        "opaque-gcm": (["-nodetach"], ["-aes-256-gcm", "-recip", token_cert]),
        "opaque-3des": (["-nodetach", "-md", "sha1"], ["-des3", token_cert]),
    }
    for name, (sign_opts, enc_opts) in cases.items():
        openssl("cms", "-sign", "-in", s["msg"], "-signer", c_cert, "-inkey", c_key, "-binary", *sign_opts,
                "-out", path(f"{name}-signed.eml"))
        openssl("cms", "-encrypt", "-in", path(f"{name}-signed.eml"), "-out", path(f"{name}.eml"), *enc_opts)
        r = hsm("unprotect", "--label", "dca", path(f"{name}.eml"), path(f"{name}-inner.eml"))
        status = r.stderr.decode()
        check("encrypted=yes signed=yes signature_valid=yes" in status and "O=agency-c" in status, f"{name}: {status}")
        with open(path(f"{name}-inner.eml"), "rb") as f:
            check(f.read() == MESSAGE, f"{name}: inner message differs")
    # Enveloped first, then signed (the other nesting order).
    openssl("cms", "-encrypt", "-in", s["msg"], "-aes256", "-out", path("e-first.eml"), token_cert)
    openssl("cms", "-sign", "-in", path("e-first.eml"), "-signer", c_cert, "-inkey", c_key, "-nodetach", "-binary",
            "-out", path("e-then-s.eml"))
    r = hsm("unprotect", "--label", "dca", path("e-then-s.eml"), path("e-then-s-inner.eml"))
    check(b"encrypted=yes signed=yes signature_valid=yes" in r.stderr, r.stderr)
    with open(path("e-then-s-inner.eml"), "rb") as f:
        check(f.read() == MESSAGE, "enveloped-then-signed: inner message differs")
    # IN-1: a signature without the signer's certificate is verified with one we know; without
    # it the content still comes back, marked unverified (a HARD warning later, never a drop).
    openssl("cms", "-sign", "-in", s["msg"], "-signer", c_cert, "-inkey", c_key, "-nodetach", "-binary", "-nocerts",
            "-out", path("nocerts.eml"))
    r = hsm("unprotect", "--label", "dca", "--known", c_cert, path("nocerts.eml"), path("nocerts-inner.eml"))
    check(b"signed=yes signature_valid=yes" in r.stderr and b"O=agency-c" in r.stderr, r.stderr)
    r = hsm("unprotect", "--label", "dca", path("nocerts.eml"), path("nocerts-inner2.eml"))
    check(b"signed=yes signature_valid=no" in r.stderr, r.stderr)
    with open(path("nocerts-inner2.eml"), "rb") as f:
        check(f.read() == MESSAGE, "unverified content is still handed back")
    # The recipient named by subject key identifier instead of issuer and serial.
    openssl("cms", "-encrypt", "-in", s["msg"], "-aes256", "-keyid", "-out", path("keyid.eml"), token_cert)
    r = hsm("unprotect", "--label", "dca", path("keyid.eml"), path("keyid-inner.eml"))
    check(b"encrypted=yes" in r.stderr, r.stderr)
    # IN-3: encrypted to our key, unsigned, from an unknown source: accepted.
    openssl("cms", "-encrypt", "-in", s["msg"], "-aes256", "-out", path("unsigned.eml"), token_cert)
    r = hsm("unprotect", "--label", "dca", path("unsigned.eml"), path("unsigned-inner.eml"))
    check(b"encrypted=yes signed=no" in r.stderr, r.stderr)
    # A message for someone else has no layer of ours (an individual's S/MIME): a clear error.
    openssl("cms", "-encrypt", "-in", s["msg"], "-aes256", "-out", path("other.eml"), c_cert)
    r = hsm("unprotect", "--label", "dca", path("other.eml"), path("x.eml"), check_rc=False)
    check(r.returncode == 1 and b"no domain layer" in r.stderr, r.stderr)


def test_round_trip_through_the_token_keeps_the_label():
    s = setup()
    hsm("protect", "--label", "dca", "--recipient", os.path.join(s["token"], "dca.pem"), "--privacy-mark", "SENSITIVE",
        s["msg"], path("self.eml"))
    r = hsm("unprotect", "--label", "dca", path("self.eml"), path("self-inner.eml"))
    # SMIMECapabilities: five ciphers and four digests (OUT-6: peers choose our digest too).
    check(b"signature_valid=yes" in r.stderr and b"label=SENSITIVE" in r.stderr and b"capabilities=9" in r.stderr,
          r.stderr)
    with open(path("self-inner.eml"), "rb") as f:
        check(f.read() == MESSAGE, "round trip changed the message")


def fingerprint(cert):
    out = openssl("x509", "-in", cert, "-noout", "-fingerprint", "-sha1").stdout.decode()
    return out.strip().split("=", 1)[1].replace(":", "")


def smime_entity(der, smime_type, extra_headers=b""):
    import base64
    b64 = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (extra_headers + b"Content-Type: application/pkcs7-mime; smime-type=" + smime_type +
            b"; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64)


def test_gpgsm_interop_both_ways():
    """GnuPG's gpgsm, an independent CMS implementation: it decrypts and verifies what seegw
    protects, and seegw decrypts and verifies what gpgsm signs and encrypts."""
    s = setup()
    home = path("gnupg")
    os.makedirs(home, mode=0o700)
    env = dict(os.environ, GNUPGHOME=home)
    with open(os.path.join(home, "gpg-agent.conf"), "w") as f:
        f.write("allow-loopback-pinentry\n")
    with open(os.path.join(home, "gpgsm.conf"), "w") as f:
        f.write("disable-crl-checks\ndisable-policy-checks\nno-common-certs-import\n")
    c_cert, c_key = os.path.join(s["pki"], "certs", "agency-c-dca.pem"), os.path.join(s["pki"], "certs", "agency-c-dca.key")
    token_cert = os.path.join(s["token"], "dca.pem")
    # gpgsm 2.2 reads PKCS#12 with the classic 3DES/SHA-1 protection.
    p12 = path("c.p12")
    openssl("pkcs12", "-export", "-in", c_cert, "-inkey", c_key, "-passout", "pass:", "-keypbe", "PBE-SHA1-3DES",
            "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1", "-out", p12)

    def gpgsm(*args, stdin=b"\n", tries=1):
        for _ in range(tries):
            r = subprocess.run(["gpgsm", "--batch", "--pinentry-mode", "loopback", "--passphrase-fd", "0", *args],
                               input=stdin, capture_output=True, env=env, timeout=120)
            if r.returncode == 0:
                break
        check(r.returncode == 0, f"gpgsm {' '.join(args)}: {r.stderr.decode()}")
        return r

    try:
        # The first import starts gpg-agent; seen once to fail while the agent came up (a GnuPG
        # start-up race, not the gateway's): it is tried twice.
        gpgsm("--import", p12, tries=2)
        gpgsm("--import", os.path.join(s["pki"], "agency-a", "ca.pem"), os.path.join(s["pki"], "agency-c", "ca.pem"),
              token_cert)
        with open(os.path.join(home, "trustlist.txt"), "w") as f:
            for ca in ("agency-a", "agency-c"):
                f.write(openssl("x509", "-in", os.path.join(s["pki"], ca, "ca.pem"), "-noout", "-fingerprint",
                                "-sha1").stdout.decode().split("=", 1)[1].strip() + " S relax\n")
        # seegw -> gpgsm
        hsm("protect", "--label", "dca", "--recipient", c_cert, s["msg"], path("to-gpgsm.eml"))
        with open(path("to-gpgsm.eml"), "rb") as f:
            body = f.read().split(b"\r\n\r\n", 1)[1]
        with open(path("to-gpgsm.b64"), "wb") as f:
            f.write(body)
        gpgsm("--assume-base64", "--decrypt", "--output", path("gpgsm-signed.eml"), path("to-gpgsm.b64"))
        with open(path("gpgsm-signed.eml"), "rb") as f:
            signed_body = f.read().split(b"\r\n\r\n", 1)[1]
        with open(path("gpgsm-signed.b64"), "wb") as f:
            f.write(signed_body)
        r = gpgsm("--assume-base64", "--verify", "--output", path("gpgsm-inner.eml"), path("gpgsm-signed.b64"))
        check(b"Good signature" in r.stderr, r.stderr)
        with open(path("gpgsm-inner.eml"), "rb") as f:
            check(f.read() == b"Content-Type: message/rfc822\r\n\r\n" + MESSAGE, "gpgsm's view of the content")
        # gpgsm -> seegw: signed by agency-c's key, then enveloped to our token's certificate.
        gpgsm("--sign", "-u", fingerprint(c_cert), "--include-certs", "1", "--output", path("g.der"), s["msg"])
        with open(path("g.der"), "rb") as f:
            signed = smime_entity(f.read(), b"signed-data")
        with open(path("g-signed.eml"), "wb") as f:
            f.write(signed)
        gpgsm("--encrypt", "-r", fingerprint(token_cert), "--output", path("g-env.der"), path("g-signed.eml"))
        with open(path("g-env.der"), "rb") as f:
            wire = smime_entity(f.read(), b"enveloped-data", b"From: carol@agency-c.govt.nz\r\nMIME-Version: 1.0\r\n")
        with open(path("from-gpgsm.eml"), "wb") as f:
            f.write(wire)
        r = hsm("unprotect", "--label", "dca", path("from-gpgsm.eml"), path("from-gpgsm-inner.eml"))
        check(b"encrypted=yes signed=yes signature_valid=yes" in r.stderr and b"O=agency-c" in r.stderr, r.stderr)
        with open(path("from-gpgsm-inner.eml"), "rb") as f:
            check(f.read() == MESSAGE, "inner message from gpgsm differs")
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env)


if __name__ == "__main__":
    try:
        run_tests([test_keys_are_generated_inside_the_token_and_cannot_leave,
                   test_the_token_is_a_standard_pkcs11_token,
                   test_rsa_1024_and_4096_peer_certificates_work,
                   test_seegw_protects_openssl_unprotects_every_cipher,
                   test_openssl_protects_seegw_unprotects,
                   test_round_trip_through_the_token_keeps_the_label,
                   test_gpgsm_interop_both_ways])
    finally:
        if STATE:
            STATE["w"].remove()
