"""The poll-mode data plane on a TAP device whose kernel side lives in a network namespace made for
the test: only that namespace and loopback ever carry traffic (addresses from 198.18.0.0/15).
Real peers run inside the namespace — swaks, Postfix's smtp-source, aiosmtpd sinks — and talk to
the gateway's own TCP stack through the kernel's. Needs root (namespaces, TAP); cleans up."""
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import BUILD, DATAPLANE, SINK, Workdir, _processes, agencyless_policy, check, wait_for  # noqa

NS_IP, GW_IP = "198.18.0.1", "198.18.0.2"


def ns_run(ns, *cmd, **kw):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], **kw)


class Topology:
    """A namespace; a poll-mode gateway on a TAP moved into it (kind "tap", net_tap) or on the root
    end of a veth pair whose other end is in it (kind "veth", net_af_packet); sinks inside it."""

    def __init__(self, name, faults="", extra="", kind="tap", queues=1, dpdk_extra=""):
        tag = f"{os.getpid() % 10000}{name[:2]}{kind[0]}"
        self.ns = f"seegw-{tag}"
        self.kind = kind
        self.tap = f"sg{tag}"[:15]  # the device the namespace side sees
        self.eal_dir = f"/var/run/dpdk/sg{tag}"  # the EAL's runtime files (--file-prefix)
        self.dev = self.tap if kind == "tap" else f"sr{tag}"[:15]  # the one the gateway owns
        self.w = Workdir("dpdk-" + name)
        self.spool = self.w.sub("spool", "x").rsplit("/", 1)[0]
        self.log = self.w.sub("gw.log")
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        ns_run(self.ns, "ip", "link", "set", "lo", "up", check=True)
        self.sinks = {}
        self.procs = []
        self.config = self.w.sub("gw.toml")
        if "[policy]" not in extra:
            extra = extra.rstrip("\n") + "\n" + agencyless_policy(self.w.sub("policy.toml"))
        with open(self.config, "w") as f:
            f.write(f'''
[gateway]
hostname = "gw.agency-a.govt.nz"
domain = "agency-a.govt.nz"
internal_networks = ["198.18.0.0/24"]
[smtp]
listen = ["{GW_IP}:25"]
max_message_bytes = 52428800
[spool]
path = "{self.spool}"
[relay]
internal_host = "{NS_IP}:10025"
outbound_host = "{NS_IP}:10026"
retry_base = 1
retry_max = 2
{extra}
[dpdk]
enabled = true
eal_args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--file-prefix=sg{tag}",
            "--vdev={'net_tap0,iface=' + self.tap if kind == 'tap' else f'net_af_packet0,qdisc_bypass=1,qpairs={queues},iface=' + self.dev}", "-l", "0", "--log-level=pmd.net.tap:error", "--log-level=eal:error"]
address = "{GW_IP}/24"
mbufs = 8191
queues = {queues}
{dpdk_extra}
{faults}
''')

    def start(self):
        try:
            return self._start()
        except BaseException:
            self.stop()  # the namespace and the gateway go, whatever failed
            raise

    def _start(self):
        if self.kind == "veth":
            # The kernel peer must send MTU-sized, fully checksummed frames: AF_PACKET sees what
            # the veth carries, and a TSO super-packet or a partial checksum is not a frame.
            subprocess.run(["ip", "link", "add", self.dev, "type", "veth", "peer", "name", self.tap], check=True)
            subprocess.run(["ip", "link", "set", self.tap, "netns", self.ns], check=True)
            subprocess.run(["ip", "link", "set", self.dev, "up"], check=True)
            for where, dev in ((None, self.dev), (self.ns, self.tap)):
                cmd = ["ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off"]
                subprocess.run(cmd if not where else ["ip", "netns", "exec", where, *cmd], check=True,
                               stdout=subprocess.DEVNULL)
        self.gw = subprocess.Popen([DATAPLANE, "--config", self.config], stdout=subprocess.DEVNULL,
                                   stderr=open(self.log, "a"))
        _processes.append(self.gw)
        # The TAP moves only after its queues exist: the PMD opens them by name in our namespace.
        wait_for(lambda: "listening on" in open(self.log).read() or self.gw.poll() is not None,
                 timeout=60, what="the poll-mode gateway")
        check(self.gw.poll() is None, "the gateway did not start:\n" + open(self.log).read())
        if self.kind == "tap":  # only now: the PMD opened its queues by name, in our namespace
            subprocess.run(["ip", "link", "set", self.tap, "netns", self.ns], check=True)
        ns_run(self.ns, "ip", "addr", "add", f"{NS_IP}/24", "dev", self.tap, check=True)
        ns_run(self.ns, "ip", "link", "set", self.tap, "up", check=True)
        for port in (10025, 10026):
            d = self.w.sub(f"sink-{port}", "x").rsplit("/", 1)[0]
            p = subprocess.Popen(["ip", "netns", "exec", self.ns, "env", f"SINK_HOST={NS_IP}", "/usr/bin/python3",
                                  SINK, str(port), d], stdout=subprocess.PIPE,
                                 stderr=open(self.w.sub(f"sink-{port}.log"), "w"))
            _processes.append(p)
            self.procs.append(p)
            assert p.stdout.readline().strip() == b"ready"
            self.sinks[port] = d
        return self

    def messages(self, port=10025):
        d = self.sinks[port]
        out = []
        for n in sorted(x for x in os.listdir(d) if x.endswith(".eml")):
            with open(os.path.join(d, n), "rb") as f:
                out.append(f.read())
        return out

    def admin(self, *args):
        r = subprocess.run([os.path.join(BUILD, "dataplane", "main", "seegw"), "--socket",
                            os.path.join(self.spool, "admin.sock"), *args], capture_output=True, text=True,
                           timeout=30)
        return r.returncode, r.stdout + r.stderr

    def counters(self):
        rc, out = self.admin("stack")
        check(rc == 0, out)
        values = {}
        for line in out.splitlines():
            if ": " in line and not line.startswith(" "):
                k, v = line.split(": ", 1)
                if v.strip().isdigit():
                    values[k.strip()] = int(v)
        values["_text"] = out
        return values

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if getattr(self, "gw", None) and self.gw.poll() is None:
            self.gw.send_signal(signal.SIGTERM)
            try:
                self.gw.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.gw.kill()
                self.gw.wait()
        subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)
        shutil.rmtree(self.eal_dir, ignore_errors=True)
        if self.kind == "veth":
            subprocess.run(["ip", "link", "del", self.dev], stderr=subprocess.DEVNULL)
        if not os.environ.get("SEEGW_TEST_KEEP"):
            self.w.remove()


def can_run():
    if os.geteuid() != 0:
        return "needs root (network namespaces and TAP devices)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if subprocess.run(["which", "ethtool"], capture_output=True).returncode != 0:
        return "no ethtool (tools/install-deps installs it)"
    if subprocess.run([DATAPLANE, "--help"], capture_output=True).returncode not in (0, 2):
        return "no seegw-dataplane"
    return None
