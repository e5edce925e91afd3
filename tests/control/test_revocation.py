#!/usr/bin/python3
"""rule DIR-4 (and the soft path of OUT-5/IN-2): CRLs fetched by seegw-control from each
certificate's CRL distribution point, served over HTTP by a real server on loopback
(python3 -m http.server): fetched and cached, used from the cache while fresh, refused when signed
by the wrong key or expired, and an unreachable point reported — never an unusable CRL kept."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BUILD, Workdir, check, free_port, run_tests, wait_port  # noqa

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CONTROL = os.path.join(BUILD, "control", "seegw-control")
S = {}


def setup():
    if S:
        return S
    w = Workdir("revocation")
    port = free_port()
    pki = os.path.join(w.path, "pki")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki, f"http://127.0.0.1:{port}"], check=True,
                   stdout=subprocess.DEVNULL)
    www = w.sub("www", "x")
    S.update(w=w, port=port, pki=pki, www=os.path.dirname(www))
    serve()
    return S


def serve():
    S["server"] = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1",
                                    "--directory", S["www"], str(S["port"])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(S["port"])


def publish(ca, source):
    shutil.copy(source, os.path.join(S["www"], f"{ca}.crl"))


def refresh(cert, cache):
    s = setup()
    config = s["w"].sub(cache + ".toml")
    pki = s["pki"]
    with open(config, "w") as f:
        f.write(f'[snapshot]\ntrusted_roots = ["{pki}/agency-a/ca.pem", "{pki}/agency-b/ca.pem", '
                f'"{pki}/agency-c/ca.pem"]\n[crl]\ncache_dir = "{s["w"].sub(cache)}"\ntimeout = 5\n')
    r = subprocess.run([CONTROL, "--config", config, "crl", "refresh", os.path.join(pki, "certs", cert + ".pem")],
                       capture_output=True, text=True, timeout=60)
    cached = [n for n in os.listdir(s["w"].sub(cache)) if n.endswith(".crl")] if os.path.isdir(s["w"].sub(cache)) else []
    return r.returncode, r.stdout + r.stderr, cached


def test_fetched_checked_cached_and_reused():
    s = setup()
    publish("agency-c", os.path.join(s["pki"], "agency-c", "crl.pem"))
    rc, out, cached = refresh("agency-c-dca", "cache-ok")
    check(rc == 0 and f"http://127.0.0.1:{s['port']}/agency-c.crl: fetched" in out and len(cached) == 1, out)
    os.remove(os.path.join(s["www"], "agency-c.crl"))  # the second run must not need the server
    rc, out, cached = refresh("agency-c-dca", "cache-ok")
    check(rc == 0 and "cached (fresh)" in out and len(cached) == 1, out)


def test_a_crl_signed_by_another_key_is_refused():
    s = setup()
    publish("agency-c", os.path.join(s["pki"], "agency-b", "crl.pem"))  # agency-b's CRL at C's point
    rc, out, cached = refresh("agency-c-dca", "cache-wrong-key")
    check(rc == 1 and "not signed by the certificate's issuer" in out and not cached, out)


def test_an_expired_crl_is_refused():
    s = setup()
    publish("agency-a", os.path.join(s["pki"], "agency-a", "crl-expired.pem"))
    rc, out, cached = refresh("agency-a-dca", "cache-expired")
    check(rc == 1 and "the CRL has expired" in out and not cached, out)


def test_an_unreachable_point_is_reported():
    setup()
    S["server"].kill()
    S["server"].wait()
    try:
        rc, out, cached = refresh("agency-b-dca", "cache-down")
        check(rc == 1 and ("Couldn't connect" in out or "connect" in out.lower()) and not cached, out)
    finally:
        serve()


def teardown():
    if S.get("server") and S["server"].poll() is None:
        S["server"].kill()
        S["server"].wait()
    if S and not os.environ.get("SEEGW_KEEP"):
        S["w"].remove()


def ocsp_issue(name, responder_port, revoke=False):
    """A certificate under agency-a's CA whose AIA names an OCSP responder on loopback."""
    s = setup()
    ca = os.path.join(s["pki"], "agency-a")
    key, csr, cert, ext = (s["w"].sub("ocsp", name + x) for x in (".key", ".csr", ".pem", ".ext"))
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", f"/CN=domain-confidentiality-authority/O={name}"], check=True, capture_output=True)
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nsubjectAltName=email:domain-confidentiality-authority@agency-a.govt.nz\n"
                f"authorityInfoAccess=OCSP;URI:http://127.0.0.1:{responder_port}\n")
    ca_args = ["-config", os.path.join(ca, "ca.cnf"), "-cert", os.path.join(ca, "ca.pem"), "-keyfile",
               os.path.join(ca, "ca.key")]
    subprocess.run(["openssl", "ca", "-batch", *ca_args, "-in", csr, "-out", cert, "-extfile", ext, "-notext",
                    "-days", "30"], check=True, capture_output=True)
    if revoke:
        subprocess.run(["openssl", "ca", "-batch", *ca_args, "-revoke", cert, "-crl_reason", "keyCompromise"],
                       check=True, capture_output=True)
    return cert


def ocsp_responder(port, signer_ca="agency-a"):
    """`openssl ocsp` as a real responder for agency-a's CA database, signing with `signer_ca`'s key."""
    s = setup()
    a, signer = os.path.join(s["pki"], "agency-a"), os.path.join(s["pki"], signer_ca)
    p = subprocess.Popen(["openssl", "ocsp", "-index", os.path.join(a, "index.txt"), "-port", str(port),
                          "-rsigner", os.path.join(signer, "ca.pem"), "-rkey", os.path.join(signer, "ca.key"),
                          "-CA", os.path.join(a, "ca.pem"), "-ignore_err", "-nmin", "10"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Ready when it says so: a probe connection would hold this one-at-a-time server up.
    for line in p.stderr:
        if "waiting for OCSP client connections" in line:
            break
    return p


def ocsp_check(*certs):
    s = setup()
    config = s["w"].sub("ocsp.toml")
    with open(config, "w") as f:
        f.write(f'[snapshot]\ntrusted_roots = ["{s["pki"]}/agency-a/ca.pem"]\n[crl]\ntimeout = 5\n')
    r = subprocess.run([CONTROL, "--config", config, "ocsp", "check", *certs], capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_ocsp_answers_good_and_revoked_and_a_forged_or_absent_responder_is_not_believed():
    """DIR-4's second source: a real OCSP responder (`openssl ocsp`) on loopback."""
    port = free_port()
    good = ocsp_issue("ocsp-good", port)
    revoked = ocsp_issue("ocsp-revoked", port, revoke=True)
    responder = ocsp_responder(port)
    try:
        rc, out = ocsp_check(good, revoked)
        check(rc == 0 and "ocsp-good.pem: http://127.0.0.1" in out and ": good" in out, out)
        check("ocsp-revoked.pem" in out and "revoked (keyCompromise)" in out, out)
    finally:
        responder.kill()
        responder.wait()
    # A responder that signs with a key the issuer never delegated to is not believed.
    forger = ocsp_responder(port, signer_ca="agency-b")
    try:
        rc, out = ocsp_check(revoked)
        check(rc == 1 and "not signed by the issuer" in out, out)
    finally:
        forger.kill()
        forger.wait()
    rc, out = ocsp_check(good)  # no responder at all: unknown, said
    check(rc == 1 and ("Couldn't connect" in out or "Connection refused" in out), out)


if __name__ == "__main__":
    try:
        run_tests([
            test_ocsp_answers_good_and_revoked_and_a_forged_or_absent_responder_is_not_believed,
            test_fetched_checked_cached_and_reused,
            test_a_crl_signed_by_another_key_is_refused,
            test_an_expired_crl_is_refused,
            test_an_unreachable_point_is_reported,
        ])
    finally:
        teardown()
