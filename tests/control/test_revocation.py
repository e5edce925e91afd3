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


if __name__ == "__main__":
    try:
        run_tests([
            test_fetched_checked_cached_and_reused,
            test_a_crl_signed_by_another_key_is_refused,
            test_an_expired_crl_is_refused,
            test_an_unreachable_point_is_reported,
        ])
    finally:
        teardown()
