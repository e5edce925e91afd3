"""Helpers shared by the bench/ scripts: free ports, waiting for a listener, and Postfix's
smtp-sink as a counting sink."""
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
