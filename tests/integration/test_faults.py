#!/usr/bin/python3
"""A failing machine (issue 15): out of file descriptors, the gateway's loops do not spin; they
stop accepting for a moment, say so once, and take clients again when descriptors come back."""
import os
import resource
import smtplib
import socket
import time

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


if __name__ == "__main__":
    run_tests([test_out_of_file_descriptors_the_loops_pause_instead_of_spinning])
