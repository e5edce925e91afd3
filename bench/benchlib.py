"""Helpers shared by the bench/ scripts: free ports, waiting for a listener, Postfix's smtp-sink as
a counting sink, and agency A's gateway with its token served from a process of its own."""
import os
import re
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"bench: nothing listening on {port}")


class CountingSink:
    """Postfix's smtp-sink; its -c counters (written to a file) tell how many messages arrived."""

    def __init__(self, work):
        self.port = free_port()
        self.counts = os.path.join(work, f"sink-{self.port}.txt")
        self.proc = subprocess.Popen(["smtp-sink", "-u", "nobody", "-c", f"127.0.0.1:{self.port}", "1000"],
                                     stdout=open(self.counts, "w"), stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def received(self):
        with open(self.counts, "rb") as f:
            f.seek(max(0, os.path.getsize(self.counts) - 200))
            found = re.findall(rb"mesg=(\d+)", f.read())
        return int(found[-1]) if found else 0

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def deferred_note(log_path, what="seegw"):
    """A note when the gateway deferred a delivery during the run: a retry waits relay.retry_base
    (a minute), and a rate with one in it measures that timer, not the gateway."""
    with open(log_path, errors="replace") as f:
        deferred = len(re.findall(r"status=deferred", f.read()))
    return f"note: {what}: {deferred} deliveries deferred and retried" if deferred else ""


def agencyless_policy(work):
    """The [policy] section of a gateway that knows no SEEMail agencies, and its snapshot file:
    OPS-1 keeps a gateway without a good snapshot from taking mail at all."""
    snapshot = os.path.join(work, "policy.toml")
    with open(snapshot, "w") as f:
        f.write("# no SEEMail agencies: plain relaying with trigger scanning\nversion = 1\n")
    return f'[policy]\nsnapshot = "{snapshot}"\n'


TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("SEEGW_BUILD", os.path.join(TOP, "build"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
from harness import P11_KIT_CLIENT, HsmServer, Workdir, process_tree_cpu  # noqa: E402,F401


def cpu_seconds(pid):
    """User + system CPU seconds of one process (its threads included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def agency_a_token(work):
    """Test PKI and agency A's SoftHSM2 token (key made inside it) for a bench: (pki, token)."""
    pki, token = os.path.join(work, "pki"), os.path.join(work, "token")
    subprocess.run([os.path.join(TOP, "tools", "make-test-pki"), pki], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(TOP, "tools", "make-test-hsm"), token, "agency-a.govt.nz", pki,
                    os.path.join(BUILD, "crypto-hsm", "seegw-hsm")], check=True, stdout=subprocess.DEVNULL)
    return pki, token


def secure_gateway_config(work, pki, token, hsm, next_hop):
    """Agency A's gateway: agency C (a SEEMail member) and the Internet both at `next_hop`, the
    token through `hsm` (tools/hsm-server). Returns (config file, submission port)."""
    snapshot = os.path.join(work, "policy.toml")
    with open(snapshot, "w") as f:
        f.write(f'version = 1\ntrusted_roots = ["{pki}/agency-a/ca.pem", "{pki}/agency-c/ca.pem"]\n'
                f'crls = ["{pki}/agency-a/crl.pem", "{pki}/agency-c/crl.pem"]\n'
                f'[[agency]]\ndomain = "agency-c.govt.nz"\ncommunity = "restricted"\n'
                f'certificate = "{pki}/certs/agency-c-dca.pem"\ncapabilities = ["2.16.840.1.101.3.4.1.42"]\n')
    port, sub = free_port(), free_port()
    config = os.path.join(work, "seegw.toml")
    with open(config, "w") as f:
        f.write(f'[gateway]\nhostname = "gw.agency-a.govt.nz"\ndomain = "agency-a.govt.nz"\n'
                f'internal_networks = []\n[smtp]\nlisten = ["127.0.0.1:{port}"]\n'
                f'submission = ["127.0.0.1:{sub}"]\n[spool]\npath = "{work}/seegw-spool"\n'
                f'[relay]\noutbound_host = "127.0.0.1:{next_hop}"\ntls = "none"\n'
                f'[[route]]\ndomains = ["agency-c.govt.nz"]\nnext_hop = "127.0.0.1:{next_hop}"\n'
                f'[policy]\nsnapshot = "{snapshot}"\n'
                + hsm.hsm_config(os.path.join(token, "user.pin")) + "check_interval = 5\n")
    return config, sub


# What bench/latency_probe sends: a classified message to SEEMail member agency C, or an
# unclassified one to the Internet.
KINDS = {"secure": dict(to="carol@agency-c.govt.nz", subject="[RESTRICTED] budget figures"),
         "plain": dict(to="bob@example.org", subject="lunch")}


def probe_load(gateway_port, sink_port, kind, messages, rate, connections=20, size=10240):
    """bench/latency_probe: `messages` of KINDS[kind] at `rate` per second (0: as fast as the
    sessions go) into the gateway, and the next hop they leave it for. Per message (end of DATA,
    250, at the next hop) in seconds, and the seconds the load took to send."""
    cmd = [os.path.join(BUILD, "bench", "latency_probe"), "--gateway", str(gateway_port), "--sink", str(sink_port),
           "--messages", str(messages), "--rate", f"{rate:.1f}", "--connections", str(connections),
           "--size", str(size), "--to", KINDS[kind]["to"], "--subject", KINDS[kind]["subject"]]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.stderr.readline().strip() != "ready":
        sys.exit(f"bench: the latency probe did not start: {p.stderr.read()}")
    out, err = p.communicate("go\n", timeout=600)
    if p.returncode != 0:
        sys.exit(f"bench: the latency probe failed: {err}")
    times, sent = [], 0.0
    for line in out.splitlines():
        if line.startswith("# sent"):
            sent = float(line.split()[-2])
            continue
        _, end, reply, at_sink = (int(x) for x in line.split(","))
        if not at_sink:
            sys.exit(f"bench: {kind}: a message never reached the next hop")
        times.append((end / 1e9, reply / 1e9, at_sink / 1e9))
    return times, sent
