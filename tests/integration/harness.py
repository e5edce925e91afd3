"""Test harness for seegw integration tests: real processes on loopback, nothing mocked.

Starts seegw-dataplane with a throw-away config and spool, and real SMTP sinks (aiosmtpd) that
write every message they receive to a directory. Everything lives in a temporary directory that
is removed afterwards; every process started is killed at exit.
"""
import asyncio
import atexit
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

BUILD = os.environ.get("SEEGW_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
DATAPLANE = os.path.join(BUILD, "dataplane", "main", "seegw-dataplane")
_processes = []


_port_rng = __import__("random").Random(os.getpid() ^ int(time.time() * 1000))


def free_port():
    # Random rather than the kernel's next ephemeral port: tests running side by side (and a
    # gateway restarted on its old port) must not be handed each other's ports.
    while True:
        port = _port_rng.randrange(20000, 60000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {port}")


def serve_connections(sock, handle):
    """Accepts on a listening socket in a daemon thread; each connection goes to handle(conn) in
    a thread of its own. A client that fails (its TLS handshake, say) is skipped; closing the
    socket ends it."""
    def accept():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                if sock.fileno() == -1:
                    return
                continue
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


@atexit.register
def _cleanup():
    for p in _processes:
        if p.poll() is None:
            p.kill()
            p.wait()


class Workdir:
    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix=f"seegw-{name}-")

    @classmethod
    def at(cls, path):
        """An existing folder (a bench's) as a Workdir."""
        w = cls.__new__(cls)
        w.path = path
        return w

    def sub(self, *parts):
        p = os.path.join(self.path, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
SINK = os.path.join(TOOLS, "mail-sink")


class Sink:
    """A real SMTP server (aiosmtpd) storing each received message as a file."""

    def __init__(self, workdir, name, port=None, tls=None):
        self.port = port or free_port()
        self.dir = workdir.sub(name, "x")
        self.dir = os.path.dirname(self.dir)
        args = ["/usr/bin/python3", SINK, str(self.port), self.dir]
        if tls:
            args += list(tls)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=open(workdir.sub(name + "-sink.log"), "w"))
        _processes.append(self.proc)
        assert self.proc.stdout.readline().strip() == b"ready"
        wait_port(self.port)

    def messages(self):
        names = sorted(n for n in os.listdir(self.dir) if n.endswith(".eml"))
        out = []
        for n in names:
            with open(os.path.join(self.dir, n), "rb") as f:
                out.append(f.read())
        return out

    def count(self):
        return sum(1 for n in os.listdir(self.dir) if n.endswith(".eml"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def strip_trace(message):
    """The message as the sink got it, minus the sink's envelope line and our Received header."""
    lines = message.split(b"\r\n")
    assert lines[0].startswith(b"X-Sink-Envelope: ")
    lines = lines[1:]
    assert lines[0].startswith(b"Received: from "), lines[0]
    i = 1
    while i < len(lines) and lines[i][:1] in (b"\t", b" "):
        i += 1
    return b"\r\n".join(lines[i:])


def agencyless_policy(snapshot):
    """A [policy] section naming a snapshot (written here) that knows no SEEMail agencies: OPS-1
    keeps a gateway without a good snapshot from taking mail at all."""
    with open(snapshot, "w") as f:
        f.write("# no SEEMail agencies: plain relaying with trigger scanning\nversion = 1\n")
    return f'[policy]\nsnapshot = "{snapshot}"\n'


P11_KIT_CLIENT = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"


def process_tree_cpu(pid):
    """CPU seconds (user + system) of a process, its reaped children and its live descendants."""
    def stat(p):
        with open(f"/proc/{p}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    fields = stat(pid)
    total = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    total += round(process_tree_cpu(int(child)) * os.sysconf("SC_CLK_TCK"))
    except FileNotFoundError:
        pass
    return total / os.sysconf("SC_CLK_TCK")


class HsmServer:
    """A token made by tools/make-test-hsm served from a process of its own (tools/hsm-server:
    p11-kit server), as a network HSM: the gateway loads p11-kit-client.so and signs there."""

    def __init__(self, workdir, token_dir, label, name="hsm"):
        self.token_dir, self.label = token_dir, label
        self.socket = workdir.sub(name + ".sock")
        self.proc = None
        self.start()

    def start(self):
        # A process group of its own: the server forks one `p11-kit remote` per client, and an
        # outage is all of them gone.
        self.proc = subprocess.Popen([os.path.join(TOOLS, "hsm-server"), self.token_dir, self.label, self.socket],
                                     start_new_session=True)
        _processes.append(self.proc)
        wait_for(lambda: os.path.exists(self.socket) or self.proc.poll() is not None, timeout=10,
                 what="the HSM server's socket")
        if self.proc.poll() is not None:
            raise RuntimeError(f"tools/hsm-server exited with {self.proc.returncode}")
        return self

    def env(self, base=None):
        """The environment of a process using the token through the server."""
        env = dict(base if base is not None else os.environ, P11_KIT_SERVER_ADDRESS=f"unix:path={self.socket}")
        env.pop("SOFTHSM2_CONF", None)  # nothing in the gateway's process opens the token itself
        return env

    def hsm_config(self, pin_file, key_label="dca"):
        """The gateway's [hsm] section for this token through the server."""
        return (f'[hsm]\nmodule = "{P11_KIT_CLIENT}"\ntoken = "{self.label}"\npin_file = "{pin_file}"\n'
                f'key_label = "{key_label}"\n')

    def cpu_seconds(self):
        return process_tree_cpu(self.proc.pid)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait()


class Gateway:
    """seegw-dataplane with a config written for the test."""

    def __init__(self, workdir, name="gw", internal_sink=None, outbound_sink=None, extra="", smtp="",
                 internal_networks=("127.0.0.0/8",), port=None, outbound_port=None, env=None,
                 domain="agency-a.govt.nz", preexec_fn=None, outbound_host=None, local_domains=()):
        self.workdir = workdir
        self.port = port or free_port()
        self.spool = workdir.sub(name, "spool")
        self.log = workdir.sub(name + ".log")
        self.config = workdir.sub(name + ".toml")
        nets = ", ".join(f'"{n}"' for n in internal_networks)
        locals_line = ("local_domains = [" + ", ".join(f'"{d}"' for d in (domain, *local_domains)) + "]"
                       if local_domains else "")
        if "[policy]" not in extra:
            extra = extra.rstrip("\n") + "\n" + agencyless_policy(workdir.sub(name + "-policy.toml"))
        with open(self.config, "w") as f:
            f.write(f'''
[gateway]
hostname = "gw.{domain}"
domain = "{domain}"
internal_networks = [{nets}]
{locals_line}
[smtp]
listen = ["127.0.0.1:{self.port}"]
{smtp}
[spool]
path = "{self.spool}"
[relay]
internal_host = "127.0.0.1:{internal_sink.port if internal_sink else free_port()}"
outbound_host = "{outbound_host or f'127.0.0.1:{outbound_sink.port if outbound_sink else outbound_port or free_port()}'}"
retry_base = 1
retry_max = 2
{extra}
''')
        self.proc = None
        self.env = env
        self.preexec_fn = preexec_fn  # e.g. resource limits for the gateway alone

    def start(self, wait=True):
        self.proc = subprocess.Popen([DATAPLANE, "--config", self.config], env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "a"),
                                     preexec_fn=self.preexec_fn)
        _processes.append(self.proc)
        if wait:
            # Generous under ASan on a loaded machine; a gateway that exits is reported at once,
            # with what it said.
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        break
                except OSError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gateway {self.config} is not listening on {self.port} "
                                       f"(exit status {self.proc.poll()}):\n{self.log_text()[-3000:]}")
                time.sleep(0.05)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self):
        return self.proc.poll() is None

    def spool_files(self, queue):
        d = os.path.join(self.spool, queue)
        return [n for n in os.listdir(d) if not n.startswith(".")] if os.path.isdir(d) else []

    def queued(self):
        return sum(len(self.spool_files(q)) for q in ("incoming", "active", "deferred"))

    def admin(self, *args):
        """`seegw` against this gateway's admin socket: (exit status, output)."""
        r = subprocess.run([os.path.join(BUILD, "dataplane", "main", "seegw"), "--socket",
                            os.path.join(self.spool, "admin.sock"), *args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        return r.returncode, r.stdout.decode(errors="replace")

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def make_tls_cert(workdir, cn="localhost"):
    """A throw-away self-signed certificate for the SMTP listener, made at test time."""
    key, cert = workdir.sub("tls", "key.pem"), workdir.sub("tls", "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", f"/CN={cn}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def run_tests(tests):
    """Runs test functions, prints one line each and a closing 'N passed, N failed' line."""
    passed = failed = 0
    for t in tests:
        start = time.monotonic()
        try:
            t()
            passed += 1
            print(f"PASS {t.__name__} ({time.monotonic() - start:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            failed += 1
            import traceback
            traceback.print_exc()
            print(f"FAIL {t.__name__}: {e}", flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
