#!/usr/bin/python3
"""A gateway-to-gateway hop without the kernel ([dpdk] hop_only, docs/operations.md): two
seegw-dataplane processes whose hop runs over DPDK's net_memif (shared memory between the two
processes), while mail comes in and goes out over kernel sockets — an appliance with its inside NIC
on the kernel and its outside NIC on DPDK. Agency A's gateway takes mail on a kernel listener and
relays mail for agency C to the other gateway's stack address over the memif port; the other takes
it there on its stack's listener and relays it to a kernel sink. Every message arrives
byte-identical, and the stacks' counters show the hop went through them."""
import os
import re
import smtplib
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Gateway, Sink, Workdir, check, run_tests, strip_trace, wait_for  # noqa: E402

TAG = str(os.getpid() % 10000)
HOP_PORT = 2525


def memif_section(w, role, address, listen=()):
    """[dpdk] on one end of a memif pair (the server end makes the socket)."""
    socket = os.path.join(w.path, "memif.sock")
    ports = ", ".join(str(p) for p in listen)
    return (f'[dpdk]\nenabled = true\nhop_only = true\nlisten = [{ports}]\naddress = "{address}/24"\n'
            f'eal_args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--file-prefix=sgm{role}{TAG}", '
            f'"--vdev=net_memif0,role={role},socket={socket},id=0", "-l", "0", "--log-level=pmd.net.memif:error", '
            f'"--log-level=eal:error"]\n')


def counters(gw):
    rc, text = gw.admin("stack")
    return {k.strip(): int(v) for k, v in re.findall(r"^([a-z][a-z ]+):\s+(\d+)$", text, re.M)}, text


def test_mail_crosses_the_memif_hop_and_arrives_identical():
    w = Workdir("memif-hop")
    sink = Sink(w, "inside-c")
    # C's gateway (memif server end): its stack listens for the hop; it delivers to a kernel sink.
    c = Gateway(w, name="gw-c", domain="agency-c.govt.nz", internal_sink=sink, internal_networks=(),
                extra=memif_section(w, "server", "198.19.0.2", listen=[HOP_PORT]))
    # A's gateway (memif client end): mail in on a kernel listener, C's mail over the port.
    a = Gateway(w, name="gw-a", internal_networks=("127.0.0.0/8",),
                extra=memif_section(w, "client", "198.19.0.1") +
                f'[[route]]\ndomains = ["agency-c.govt.nz"]\nnext_hop = "198.19.0.2:{HOP_PORT}"\ntls = "none"\n')
    try:
        c.start()
        a.start()
        body = "line one\r\n.\r\n..two dots\r\n" + ("y" * 990 + "\r\n") * 60
        for i in range(20):
            with smtplib.SMTP("127.0.0.1", a.port, timeout=30) as s:
                s.sendmail("alice@agency-a.govt.nz", ["carol@agency-c.govt.nz"],
                           f"Subject: over memif {i}\r\n\r\n{body}".encode())
        wait_for(lambda: len(sink.messages()) == 20, timeout=120, what="20 messages across the memif hop")
        for m in sink.messages():
            check(strip_trace(m).split(b"\r\n\r\n", 1)[1] == body.encode(), "the body changed on the way")
        ca, text_a = counters(a)
        cc, text_c = counters(c)
        check(ca.get("tcp connected", 0) >= 1, "A's stack made no connection: " + text_a)
        check(cc.get("tcp accepted", 0) >= 1, "C's stack accepted nothing: " + text_c)
        check(ca.get("tcp retransmits", 0) == 0, "retransmissions on a lossless hop: " + text_a)
        check("DPDK" in a.log_text() and "I/O loop" in a.log_text(), a.log_text()[-1500:])
    finally:
        a.stop()
        c.stop()
        sink.stop()
        w.remove()


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("SKIP: needs root (DPDK's EAL)")
        sys.exit(77)
    if subprocess.run(["sh", "-c", "ldconfig -p | grep -q librte_net_memif"]).returncode != 0:
        print("SKIP: DPDK's net_memif driver is not installed")
        sys.exit(77)
    run_tests([test_mail_crosses_the_memif_hop_and_arrives_identical])
