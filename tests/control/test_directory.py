#!/usr/bin/python3
"""rules DIR-1, DIR-2: seegw-control against a real slapd started for the test on loopback, with a
throw-away configuration and an LDIF of agencies and certificates under c=NZ made from the test
PKI. StartTLS with the server's certificate checked, discovery with RFC 4515 escaping, an agency
removed from the directory disappearing from the next snapshot, and the directory going away
(the last snapshot stays) — and the data plane loading what seegw-control wrote."""
import base64
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import BUILD, Gateway, Workdir, check, free_port, run_tests, wait_port  # noqa

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CONTROL = os.path.join(BUILD, "control", "seegw-control")
S = {}


def der(pem_path):
    return subprocess.run(["openssl", "x509", "-in", pem_path, "-outform", "DER"], check=True,
                          stdout=subprocess.PIPE).stdout


def tls_cert(w, name, cn="127.0.0.1", also=()):
    key, cert = w.sub("tls", name + ".key"), w.sub("tls", name + ".pem")
    san = ",".join(f"IP:{ip}" for ip in (cn, *also))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", f"/CN={cn}", "-addext", f"subjectAltName={san}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(key, 0o644)  # slapd may run as another user on some systems; a throw-away test key
    return cert, key


def start_slapd():
    w, port = S["w"], S["port"]
    S["slapd"] = subprocess.Popen(["slapd", "-f", S["conf"], "-h", f"ldap://127.0.0.1:{port}/", "-d", "0"],
                                  stdout=subprocess.DEVNULL, stderr=open(w.sub("slapd.log"), "a"))
    wait_port(port)


def stop_slapd():
    p = S.get("slapd")
    if p and p.poll() is None:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)


def setup(also_reached_as=()):
    """The test directory; `also_reached_as`: other addresses its TLS certificate names (the host
    as a virtual machine's user-mode network shows it, for the appliance's tests)."""
    if S:
        return S
    w = Workdir("control")
    S["w"] = w
    pki = os.path.join(w.path, "pki")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    S["pki"] = pki
    cert, key = tls_cert(w, "slapd", also=also_reached_as)
    S["tls_ca"] = cert
    S["other_ca"], _ = tls_cert(w, "other")
    db = w.sub("db", "x")
    os.makedirs(os.path.dirname(db), exist_ok=True)
    S["conf"] = w.sub("slapd.conf")
    with open(S["conf"], "w") as f:
        f.write(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {w.path}/slapd.pid
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
database mdb
maxsize 10485760
suffix "c=NZ"
rootdn "cn=admin,c=NZ"
rootpw {base64.b16encode(os.urandom(8)).decode()}
directory {os.path.dirname(db)}
access to * by * read
""")
    def agency(letter, name, community, base="SEEMAIL"):
        return (f"dn: cn=agency-{letter},ou={base},c=NZ\nobjectClass: inetOrgPerson\ncn: agency-{letter}\n"
                f"sn: agency-{letter}\no: {name}\nmail: *@agency-{letter}.govt.nz\nbusinessCategory: {community}\n\n")
    def certificate(name, mail, pem):
        b64 = base64.b64encode(der(pem)).decode()
        return (f"dn: cn={name},ou=certificates,c=NZ\nobjectClass: inetOrgPerson\ncn: {name}\nsn: {name}\n"
                f"mail: {mail}\nuserCertificate;binary:: {b64}\n\n")
    ldif = ("dn: c=NZ\nobjectClass: country\nc: NZ\n\n"
            "dn: ou=SEEMAIL,c=NZ\nobjectClass: organizationalUnit\nou: SEEMAIL\n\n"
            "dn: ou=VENDOR,c=NZ\nobjectClass: organizationalUnit\nou: VENDOR\n\n"
            "dn: ou=certificates,c=NZ\nobjectClass: organizationalUnit\nou: certificates\n\n"
            + agency("b", "Agency B", "Standard") + agency("c", "Agency C", "Restricted")
            + agency("v", "Vendor V", "Standard", base="VENDOR")
            + certificate("dca-b", "domain-confidentiality-authority@agency-b.govt.nz",
                          os.path.join(pki, "certs", "agency-b-dca.pem"))
            + certificate("dca-c", "domain-confidentiality-authority@agency-c.govt.nz",
                          os.path.join(pki, "certs", "agency-c-dca.pem"))
            # Our own entry (agency A): `certificate publish` replaces its certificate (§2.15).
            + certificate("dca-a", "domain-confidentiality-authority@agency-a.govt.nz",
                          os.path.join(pki, "certs", "agency-a-dca.pem"))
            # DIR-4: agency B's CA publishes its CRL in the directory too.
            + "dn: ou=crls,c=NZ\nobjectClass: organizationalUnit\nou: crls\n\n"
            + "dn: cn=agency-b-ca,ou=crls,c=NZ\nobjectClass: cRLDistributionPoint\ncn: agency-b-ca\n"
            + "certificateRevocationList;binary:: " + base64.b64encode(subprocess.run(
                ["openssl", "crl", "-in", os.path.join(pki, "agency-b", "crl.pem"), "-outform", "DER"],
                check=True, stdout=subprocess.PIPE).stdout).decode() + "\n\n")
    with open(w.sub("data.ldif"), "w") as f:
        f.write(ldif)
    subprocess.run(["slapadd", "-f", S["conf"], "-l", w.sub("data.ldif")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    S["port"] = free_port()
    start_slapd()
    return S


def control_config(ca_file=None, start_tls=True, uri=None):
    s = setup()
    path = s["w"].sub("control.toml")
    pki = s["pki"]
    with open(path, "w") as f:
        f.write(f'[directory]\nuri = "{uri or "ldap://127.0.0.1:%d" % s["port"]}"\n'
                f'start_tls = {"true" if start_tls else "false"}\nca_file = "{ca_file or s["tls_ca"]}"\n'
                'timeout = 5\n'
                '[[discovery]]\nbase = "c=NZ"\n'
                'filter = "(mail=domain-confidentiality-authority@{domain})"\nattribute = "userCertificate"\n'
                # The S.E.E. Manager's roots include our own agency's: the gateway checks its own
                # certificate against them too (§2.9).
                f'[snapshot]\ntrusted_roots = ["{pki}/agency-a/ca.pem", "{pki}/agency-b/ca.pem", '
                f'"{pki}/agency-c/ca.pem"]\n'
                f'crls = ["{pki}/agency-a/crl.pem", "{pki}/agency-b/crl.pem", "{pki}/agency-c/crl.pem"]\n')
    return path


def control(*args, config=None):
    r = subprocess.run([CONTROL, "--config", config or control_config(), *args], capture_output=True, text=True,
                       timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_agencies_come_from_the_seemail_and_vendor_lists_over_starttls():
    rc, out = control("directory", "agencies")
    check(rc == 0, out)
    lines = {l.split()[0]: l for l in out.splitlines()}
    check("Restricted" in lines["agency-c.govt.nz"] and "SEEMAIL" in lines["agency-c.govt.nz"], out)
    check("Standard" in lines["agency-b.govt.nz"], out)
    check("VENDOR" in lines["agency-v.govt.nz"], out)


def test_the_server_certificate_is_checked_and_clear_text_is_refused():
    rc, out = control("directory", "agencies", config=control_config(ca_file=setup()["other_ca"]))
    check(rc != 0 and "StartTLS" in out, out)
    rc, out = control("directory", "agencies", config=control_config(start_tls=False))
    check(rc == 2 and "in clear" in out, out)


def test_discovery_finds_and_validates_the_domain_certificate():
    rc, out = control("directory", "discover", "agency-c.govt.nz")
    check(rc == 0 and "O=agency-c" in out and ": valid" in out, out)
    rc, out = control("directory", "discover", "AGENCY-B.govt.nz")
    check(rc == 0 and "O=agency-b" in out, out)
    rc, out = control("directory", "discover", "agency-x.govt.nz")
    check(rc == 0 and "no certificate" in out, out)


def test_filter_injection_cannot_widen_the_search():
    """RFC 4515: the value is escaped, so these find nothing instead of everything."""
    for hostile in ["*", "agency-c.govt.nz)(mail=*", "*)(|(mail=*", "agency-\\63.govt.nz", "agency-c.govt.n*"]:
        rc, out = control("directory", "discover", hostile)
        check(rc == 0 and "no certificate" in out, f"{hostile!r}: {out}")


def test_snapshot_is_loaded_by_the_data_plane_and_follows_the_directory():
    s = setup()
    snap = s["w"].sub("out", "policy.toml")
    rc, out = control("snapshot", "--out", snap)
    check(rc == 0 and "2 agencies, 1 vendors" in out, out)
    text = open(snap).read()
    check('domain = "agency-c.govt.nz"' in text and 'community = "restricted"' in text, text)
    # DIR-1: the VENDOR list is not the SEEMAIL list.
    check('[[vendor]]\ndomain = "agency-v.govt.nz"' in text, text)
    check('[[agency]]\ndomain = "agency-v.govt.nz"' not in text, text)
    check(os.path.exists(os.path.join(os.path.dirname(snap), "certs", "agency-c.govt.nz.pem")), text)
    gw = Gateway(s["w"], name="gw", extra=f'[policy]\nsnapshot = "{snap}"\n', domain="agency-a.govt.nz")
    gw.start()
    try:
        rc, status = gw.admin("status")
        check(rc == 0 and "(2 agencies, 1 vendors)" in status, status)
        check("agency-c.govt.nz=0" in gw.log_text(), "C's certificate is valid in the data plane's eyes")
        # An agency leaves the SEEMAIL list: it disappears from the next snapshot.
        subprocess.run(["ldapdelete", "-H", f"ldap://127.0.0.1:{s['port']}", "-x", "-D", "cn=admin,c=NZ", "-w",
                        open(s["conf"]).read().split("rootpw ")[1].split()[0], "cn=agency-b,ou=SEEMAIL,c=NZ"],
                       check=True, capture_output=True)
        rc, out = control("snapshot", "--out", snap)
        check(rc == 0 and "1 agencies" in out and "agency-b.govt.nz" not in open(snap).read(), out)
        rc, status = gw.admin("reload")
        check(rc == 0, status)
        rc, status = gw.admin("status")
        check("(1 agencies, 1 vendors)" in status, status)
        # The directory goes away: the command says so, the last snapshot stays as it was.
        before = open(snap).read()
        stop_slapd()
        rc, out = control("snapshot", "--out", snap)
        check(rc == 1 and "Can't contact LDAP server" in out, out)
        check(open(snap).read() == before, "the last good snapshot is kept")
        start_slapd()
        rc, out = control("directory", "agencies")
        check(rc == 0, "the directory is back")
    finally:
        gw.stop()


def test_crls_are_fetched_from_ldap_distribution_points():
    """DIR-4: a certificate whose CRL distribution point is an ldap:// URL; the CRL is read from
    slapd with libldap, checked against the issuer and cached; an entry that is not there makes
    the status unknown (exit 1), not a crash or a silent pass."""
    s = setup()
    pki, w = s["pki"], s["w"]
    ca = os.path.join(pki, "agency-b")
    made = {}
    for name, dn in (("ldap-dp", "cn=agency-b-ca,ou=crls,c=NZ"), ("ldap-dp-missing", "cn=nobody,ou=crls,c=NZ")):
        key, csr, cert, ext = (w.sub("crl-ldap", name + x) for x in (".key", ".csr", ".pem", ".ext"))
        subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                        "-subj", f"/CN=domain-confidentiality-authority/O={name}"], check=True, capture_output=True)
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nsubjectAltName=email:domain-confidentiality-authority@agency-b.govt.nz\n"
                    # RFC 4516 lets the DN's commas be %2C, which openssl's list syntax needs.
                    f"crlDistributionPoints=URI:ldap://127.0.0.1:{s['port']}/{dn.replace(',', '%2C')}"
                    "?certificateRevocationList;binary\n")
        subprocess.run(["openssl", "ca", "-batch", "-config", os.path.join(ca, "ca.cnf"), "-cert",
                        os.path.join(ca, "ca.pem"), "-keyfile", os.path.join(ca, "ca.key"), "-in", csr, "-out", cert,
                        "-extfile", ext, "-notext", "-days", "30"], check=True, capture_output=True)
        made[name] = cert
    config = control_config()
    with open(config, "a") as f:
        f.write(f'[crl]\ncache_dir = "{w.sub("crl-ldap", "cache")}"\ntimeout = 5\n')
    rc, out = control("crl", "refresh", made["ldap-dp"], config=config)
    check(rc == 0 and "ldap://127.0.0.1" in out and ": fetched" in out, out)
    rc, out = control("crl", "refresh", made["ldap-dp"], config=config)
    check(rc == 0 and "cached (fresh)" in out, out)
    rc, out = control("crl", "refresh", made["ldap-dp-missing"], config=config)
    check(rc == 1 and "no such entry" in out, out)


def teardown():
    stop_slapd()
    if S and not os.environ.get("SEEGW_KEEP"):
        S["w"].remove()


if __name__ == "__main__":
    try:
        run_tests([
            test_agencies_come_from_the_seemail_and_vendor_lists_over_starttls,
            test_the_server_certificate_is_checked_and_clear_text_is_refused,
            test_discovery_finds_and_validates_the_domain_certificate,
            test_filter_injection_cannot_widen_the_search,
            test_crls_are_fetched_from_ldap_distribution_points,
            test_snapshot_is_loaded_by_the_data_plane_and_follows_the_directory,
        ])
    finally:
        teardown()
