"""Real parts for the Secure Government Email tests: DNSSEC-signed zones served by nsd on
loopback, unbound validating in front of them (the resolver every party uses), OpenDKIM verifying
as a milter, and Postfix receiving through it. Nothing leaves loopback: unbound's root is nsd too.

Keys for the zones are made at test time (ldns-keygen), never kept.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import _processes, free_port, wait_for  # noqa: E402

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def _run(*args, cwd=None):
    return subprocess.run(list(args), check=True, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE).stdout.decode().strip()


def _start(args, log, what, ready):
    proc = subprocess.Popen(args, stdout=open(log, "a"), stderr=subprocess.STDOUT)
    _processes.append(proc)
    wait_for(lambda: ready() or proc.poll() is not None, timeout=15, what=what)
    if proc.poll() is not None:
        with open(log, errors="replace") as f:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{f.read()[-2000:]}")
    return proc


class SignedDns:
    """Zones signed with a key each (its own trust anchor, `anchor(zone)`), served by nsd; unbound
    on `port` validates them. `client_config` is a libunbound config for other programs."""

    def __init__(self, workdir, zone_names):
        self.dir = workdir.sub("dns")
        os.makedirs(self.dir, exist_ok=True)
        self.nsd_port, self.port = free_port(), free_port()
        self.zones = list(zone_names)
        self.anchors = [self.anchor(z) for z in self.zones]
        self.procs = []
        self.silent_sockets = []

    def anchor(self, zone):
        """The zone's trust anchor (its key's DS record), there once start() signed it."""
        return os.path.join(self.dir, f"anchor-{zone}.ds")

    def _sign(self, name, records):
        zone = os.path.join(self.dir, name + ".zone")
        with open(zone, "w") as f:
            f.write(f"$ORIGIN {name}.\n$TTL 5\n"
                    f"@ IN SOA ns.{name}. hostmaster.{name}. 1 3600 600 86400 5\n"
                    f"@ IN NS ns.{name}.\nns IN A 127.0.0.1\n")
            f.write("".join(r + "\n" for r in records))
        key = _run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", name, cwd=self.dir)
        _run("ldns-signzone", "-o", name, zone, os.path.join(self.dir, key), cwd=self.dir)
        os.replace(os.path.join(self.dir, key + ".ds"), self.anchor(name))

    def start(self, zones, also_listen=None, dead_zones=(), silent_zones=()):
        """Signs {zone: [record lines]} and serves them. `also_listen` ("127.0.0.153@53"): unbound
        answers there too (for a program that can only use resolv.conf); `dead_zones` are
        delegated to an address nothing answers on (their lookups fail: SERVFAIL); `silent_zones`
        to a socket that takes every question and never answers (lookups hang until given up)."""
        for name in self.zones:
            self._sign(name, zones.get(name, []))
        d = self.dir
        with open(os.path.join(d, "nsd.conf"), "w") as f:
            f.write(f'server:\n  ip-address: 127.0.0.1@{self.nsd_port}\n  port: {self.nsd_port}\n'
                    f'  username: ""\n  chroot: ""\n  zonesdir: "{d}"\n  database: ""\n'
                    f'  pidfile: "{d}/nsd.pid"\n  xfrdfile: "{d}/xfrd.state"\n'
                    f'  zonelistfile: "{d}/zone.list"\n  xfrdir: "{d}"\n  logfile: "{d}/nsd.log"\n'
                    f'remote-control:\n  control-enable: no\n')
            for z in self.zones:
                f.write(f'zone:\n  name: "{z}"\n  zonefile: "{z}.zone.signed"\n')
        with open(os.path.join(d, "unbound.conf"), "w") as f:
            f.write(f'server:\n  interface: 127.0.0.1@{self.port}\n  port: {self.port}\n  do-ip6: no\n'
                    + (f'  interface: {also_listen}\n' if also_listen else '') +
                    f'  username: ""\n  chroot: ""\n  directory: "{d}"\n  pidfile: "{d}/unbound.pid"\n'
                    f'  use-syslog: no\n  logfile: "{d}/unbound.log"\n  verbosity: 1\n'
                    f'  val-log-level: 2\n  do-not-query-localhost: no\n'
                    f'  access-control: 127.0.0.0/8 allow\n  module-config: "validator iterator"\n'
                    f'  cache-max-ttl: 5\n  cache-max-negative-ttl: 1\n')
            f.write("".join(f'  trust-anchor-file: "{a}"\n' for a in self.anchors))
            f.write("remote-control:\n  control-enable: no\n")
            # The root is nsd as well (it refuses what it does not serve): no query leaves loopback.
            for z in self.zones + ["."]:
                f.write(f'stub-zone:\n  name: "{z}"\n  stub-addr: 127.0.0.1@{self.nsd_port}\n')
            for z in dead_zones:
                f.write(f'stub-zone:\n  name: "{z}"\n  stub-addr: 127.0.0.1@{free_port()}\n')
            for z in silent_zones:
                import socket
                silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                silent.bind(("127.0.0.1", 0))
                self.silent_sockets.append(silent)
                f.write(f'stub-zone:\n  name: "{z}"\n  stub-addr: 127.0.0.1@{silent.getsockname()[1]}\n')
        self.procs.append(_start(["nsd", "-d", "-c", os.path.join(d, "nsd.conf")], os.path.join(d, "nsd.out"),
                                 "nsd", lambda: _answers(self.nsd_port, self.zones[0], ["+norec"])))
        self.procs.append(_start(["unbound", "-d", "-c", os.path.join(d, "unbound.conf")],
                                 os.path.join(d, "unbound.out"), "unbound",
                                 lambda: _answers(self.port, self.zones[0], ["+dnssec"])))
        with open(self.client_config, "w") as f:
            f.write("server:\n" + "".join(f'  trust-anchor-file: "{a}"\n' for a in self.anchors) +
                    f'forward-zone:\n  name: "."\n  forward-addr: 127.0.0.1@{self.port}\n')
        return self

    @property
    def client_config(self):
        return os.path.join(self.dir, "libunbound.conf")

    def dig(self, name, rtype):
        """unbound's answer (kdig): (flags line, answer lines)."""
        out = _run("kdig", "+dnssec", "-p", str(self.port), "@127.0.0.1", name, rtype)
        flags = next((line for line in out.splitlines() if line.lower().startswith(";; flags:")), "")
        answers = [line for line in out.splitlines() if line and not line.startswith(";")]
        return flags, answers

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                p.wait()


def tlsa_3_1_1(cert_file):
    """The DANE-EE SPKI SHA-256 association data (hex) of a PEM certificate."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_file, "-noout", "-pubkey"], check=True,
                         stdout=subprocess.PIPE).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                         stdout=subprocess.PIPE).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


def make_ca(workdir, leaves):
    """A throw-away CA and leaf certificates {name: [DNS names]}: {"ca": ca.pem, name: (cert, key)}."""
    d = workdir.sub("web-pki")
    os.makedirs(d, exist_ok=True)
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=SGE test web CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    out = {"ca": ca}
    for name, dns_names in leaves.items():
        key, csr, cert = (os.path.join(d, f"{name}.{x}") for x in ("key", "csr", "pem"))
        _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
             "-subj", f"/CN={dns_names[0]}")
        ext = os.path.join(d, f"{name}.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join(f"DNS:{n}" for n in dns_names) +
                    "\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
        _run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", cert, "-days", "2", "-extfile", ext)
        out[name] = (cert, key)
    return out


class PolicyServer:
    """HTTPS on loopback serving /.well-known/mta-sts.txt by Host (mta-sts.DOMAIN): {domain: text}."""

    def __init__(self, cert, key, policies):
        import http.server
        import ssl
        import threading
        self.port = free_port()
        served = policies
        self.requests = {}  # host: how many GETs
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                host = (self.headers.get("Host") or "").split(":")[0]
                requests[host] = requests.get(host, 0) + 1
                text = served.get(host.removeprefix("mta-sts."))
                if self.path != "/.well-known/mta-sts.txt" or text is None:
                    self.send_error(404)
                    return
                body = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def _answers(port, zone, options):
    r = subprocess.run(["kdig", *options, "+timeout=1", "+retry=0", "-p", str(port), "@127.0.0.1", zone, "SOA"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return r.returncode == 0 and b"status: NOERROR" in r.stdout


class OpenDkimVerifier:
    """OpenDKIM as a verifying milter on loopback, resolving keys through `dns` (libunbound,
    DNSSEC-validated). It adds Authentication-Results with authserv-id `authserv`."""

    def __init__(self, workdir, dns, authserv="verifier.example.org"):
        self.dir = workdir.sub("opendkim")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(self.dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write(f"Mode v\nSocket inet:{self.port}@127.0.0.1\nPidFile {self.dir}/opendkim.pid\n"
                    f"Background no\nSyslog no\nAuthservID {authserv}\nAlwaysAddARHeader yes\n"
                    f"ResolverConfiguration {dns.client_config}\nMinimumKeyBits 1024\n")
        self.proc = _start(["opendkim", "-f", "-x", conf], os.path.join(self.dir, "opendkim.out"),
                           "opendkim", lambda: _listening(self.port))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


def _listening(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class PostfixWithMilter:
    """A Postfix instance (tools/postfix-instance) on `port` that hands every message to the milter
    on `milter_port` and relays what it accepts to 127.0.0.1:`next_hop`."""

    def __init__(self, workdir, milter_port, next_hop, port=None, tls=None):
        self.dir = workdir.sub("postfix")
        self.port = port or free_port()
        subprocess.run([os.path.join(TOP, "tools", "postfix-instance"), self.dir, str(self.port), str(next_hop)],
                       check=True, stdout=subprocess.DEVNULL)
        settings = [f"smtpd_milters = inet:127.0.0.1:{milter_port}", "milter_default_action = tempfail",
                    "myhostname = mx.example.org"]
        if tls:  # (certificate file, key file): STARTTLS offered
            settings += [f"smtpd_tls_cert_file = {tls[0]}", f"smtpd_tls_key_file = {tls[1]}",
                         "smtpd_tls_security_level = may", "smtpd_tls_received_header = yes"]
        subprocess.run(["postconf", "-c", os.path.join(self.dir, "etc"), "-e", *settings], check=True)
        subprocess.run(["postfix", "-c", os.path.join(self.dir, "etc"), "reload"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _listening(self.port), timeout=15, what="Postfix")

    def stop(self):
        subprocess.run([os.path.join(TOP, "tools", "postfix-instance"), "--stop", self.dir])
