#!/usr/bin/python3
"""A failing machine and hostile content (issue 15): out of file descriptors, the gateway's loops
do not spin (they stop accepting for a moment, say so once, and take clients again when
descriptors come back); a decompression bomb costs a bounded amount of memory."""
import base64
import io
import os
import re
import resource
import smtplib
import socket
import time
import zipfile

from harness import Gateway, Sink, Workdir, check, run_tests, wait_for


def cpu_seconds(pid):
    """User plus system CPU time of a process so far, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_file_descriptors_the_loops_pause_instead_of_spinning():
    w = Workdir("fd-limit")
    out = Sink(w, "internet")
    limit = 96

    def low_file_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    gw = Gateway(w, outbound_sink=out, smtp="max_connections = 2000\nmax_connections_per_client = 2000",
                 preexec_fn=low_file_limit).start()
    clients = []
    try:
        check("the open-file limit is 96 but [smtp] max_connections = 2000" in gw.log_text(),
              "a limit max_connections cannot fit in is said at start")
        # More connections than descriptors: the rest wait in the kernel's backlog.
        for _ in range(limit + 40):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            clients.append(s)
        wait_for(lambda: "cannot take new connections" in gw.log_text(), timeout=20,
                 what="the pause logged")
        before = cpu_seconds(gw.proc.pid)
        time.sleep(3)
        spent = cpu_seconds(gw.proc.pid) - before
        check(spent < 1.0, f"the gateway spent {spent:.2f} s CPU in 3 s while out of descriptors")
        check(gw.log_text().count("cannot take new connections") <= 4,
              "the pause is logged once per episode, not per attempt")
        for s in clients:
            s.close()
        clients.clear()
        deadline = time.monotonic() + 30
        while True:  # descriptors come back as the loops see the closes
            try:
                with smtplib.SMTP("127.0.0.1", gw.port, timeout=10) as c:
                    c.sendmail("alice@agency-a.govt.nz", ["bob@example.org"],
                               b"Subject: after the storm\r\n\r\nhello\r\n")
                break
            except (smtplib.SMTPException, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        wait_for(lambda: out.count() == 1, what="mail accepted again after the pause")
        check("accepting connections again" in gw.log_text(), "the recovery is logged")
        check(gw.alive(), "the gateway died")
    finally:
        for s in clients:
            s.close()
        gw.stop()
        out.stop()
        w.remove()


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0


def zip_bomb():
    """About 1.4 MB: 0.9 MB that does not compress, then 600 MB of zeros (deflated 1000 to 1)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("noise.bin", os.urandom(900_000))
        with z.open("zeros.txt", "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(600):
                f.write(chunk)
    return buf.getvalue()


def test_a_decompression_bomb_costs_bounded_memory():
    w = Workdir("bomb")
    out = Sink(w, "internet")
    gw = Gateway(w, outbound_sink=out).start()
    try:
        bomb = zip_bomb()
        check(len(bomb) < 2_000_000, f"the bomb is {len(bomb)} bytes")
        encoded = base64.encodebytes(bomb).replace(b"\n", b"\r\n")
        message = (b"Subject: quarterly figures\r\nMIME-Version: 1.0\r\n"
                   b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                   b"Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
                   b"Content-Type: application/zip; name=figures.zip\r\n"
                   b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b--\r\n")
        before = peak_rss_mib(gw.proc.pid)
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
            c.sendmail("alice@agency-a.govt.nz", ["bob@example.org"], message)
        wait_for(lambda: "held in memory at once" in gw.log_text(), timeout=60,
                 what="the bomb found uninspectable for its memory")
        peak = peak_rss_mib(gw.proc.pid)
        # Item 7: the reason is in `seegw explain`, not only in the sender's notice.
        queue_id = re.search(r"scan: ([0-9A-F]{14}) .*held in memory at once", gw.log_text()).group(1)
        status, explained = gw.admin("explain", queue_id)
        check(status == 0 and "uninspectable: " in explained and "held in memory at once" in explained,
              f"seegw explain {queue_id}: {explained}")
        print(f"  peak resident memory {before:.0f} MiB before, {peak:.0f} MiB after the bomb")
        check(peak < 250, f"one 1.4 MB bomb took the gateway to {peak:.0f} MiB resident")
        check(gw.alive(), "the gateway died")
    finally:
        gw.stop()
        out.stop()
        w.remove()


if __name__ == "__main__":
    run_tests([test_out_of_file_descriptors_the_loops_pause_instead_of_spinning,
               test_a_decompression_bomb_costs_bounded_memory])
