"""The seegw appliance in a virtual machine: the image firmware-image/build-image made, booted by
QEMU with OVMF (EFI), KVM when /dev/kvm works and software emulation otherwise. The serial
console is the test's terminal (pexpect); user-mode networking gives the appliance two NICs:

  outside  10.0.2.15/24 (MAC 52:54:00:00:0a:01)   the host is 10.0.2.2 there
  inside   10.0.3.15/24 (MAC 52:54:00:00:0b:01)   the host is 10.0.3.2 there

and forwards host ports to the appliance's SMTP on both, and SSH on both (the firewall allows it
only on the inside). Each machine's disk is a copy-on-write overlay of the built image, so the
image itself is never changed.

QEMU runs with -no-reboot: when the guest reboots, QEMU exits and the machine is powered on again
here (a cold restart, which a rack server's reboot is as far as the appliance can tell). A warm
reset under software emulation sometimes left OVMF hanging before GRUB (seen in CI after the third
reset of one QEMU process), which is the emulator's trouble, not the appliance's."""
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import time

import pexpect

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
OUTSIDE_MAC, INSIDE_MAC = "52:54:00:00:0a:01", "52:54:00:00:0b:01"


def kvm_works():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
        return True
    except OSError:
        return False


def missing_tools():
    need = ["qemu-system-x86_64", "qemu-img", "mmdebstrap", "rauc", "mksquashfs", "mkfs.vfat", "mcopy",
            "grub-mkimage", "sfdisk", "ssh", "ssh-keygen"]
    out = [t for t in need if not shutil.which(t)]
    if not os.path.exists(OVMF_CODE):
        out.append("ovmf")
    return out


def make_seed_volume(path, files):
    """A small FAT volume labelled SEEGW-SEED holding seed.conf and the files it names (a USB
    stick in a fleet install)."""
    if os.path.exists(path):
        os.remove(path)
    subprocess.run(["mkfs.vfat", "-n", "SEEGW-SEED", "-C", path, "4096"], check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    for name, data in files.items():
        local = path + ".f"
        with open(local, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        subprocess.run(["mcopy", "-i", path, local, "::/" + name], check=True, env=env)
        os.remove(local)


class Appliance:
    def __init__(self, workdir, image, seed, ports):
        self.w = workdir
        self.disk = workdir.sub("disk.qcow2")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", os.path.realpath(image),
                        self.disk], check=True)
        self.vars = workdir.sub("ovmf-vars.fd")
        shutil.copy(OVMF_VARS, self.vars)
        self.seed = seed
        self.ports = ports  # smtp_out, smtp_in, ssh_in, ssh_out
        self.console_log = open(workdir.sub("console.log"), "ab")
        self.vm = None
        self.powered = False  # on until power_cut(); a guest reboot powers it on again
        self.accel = "kvm" if kvm_works() else "tcg"

    def command(self):
        p = self.ports
        outside = (f"user,id=out,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:{p['smtp_out']}-10.0.2.15:25,"
                   f"hostfwd=tcp:127.0.0.1:{p['ssh_out']}-10.0.2.15:22")
        inside = (f"user,id=in,net=10.0.3.0/24,hostfwd=tcp:127.0.0.1:{p['smtp_in']}-10.0.3.15:25,"
                  f"hostfwd=tcp:127.0.0.1:{p['ssh_in']}-10.0.3.15:22")
        cmd = ["qemu-system-x86_64", "-machine", "q35", "-accel", self.accel, "-m", "1536", "-smp", "2",
               "-display", "none", "-serial", "mon:stdio", "-no-reboot",
               "-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
               "-drive", f"if=pflash,format=raw,file={self.vars}",
               "-drive", f"if=virtio,format=qcow2,file={self.disk},cache=writeback",
               "-netdev", outside, "-device", f"virtio-net-pci,netdev=out,mac={OUTSIDE_MAC}",
               "-netdev", inside, "-device", f"virtio-net-pci,netdev=in,mac={INSIDE_MAC}"]
        if self.seed:
            cmd += ["-drive", f"if=virtio,format=raw,readonly=on,file={self.seed}"]
        # DPDK and Hyperscan need SSE4.2 and more: the host's CPU, or everything TCG emulates.
        cmd += ["-cpu", "host" if self.accel == "kvm" else "max"]
        return cmd

    def boot(self):
        """Powers the machine on; returns when QEMU runs (not when the appliance is up)."""
        assert self.vm is None or not self.vm.isalive()
        self.console_log.write(f"\n===== power on ({self.accel}) =====\n".encode())
        self.started = time.monotonic()
        cmd = self.command()
        self.vm = pexpect.spawn(cmd[0], cmd[1:], timeout=600, logfile=self.console_log, maxread=65536,
                                dimensions=(50, 200))
        self.powered = True

    def restart_after_reboot(self):
        """QEMU exited because the guest rebooted (-no-reboot): power the machine on again."""
        self.vm.close(force=True)
        self.console_log.write(b"\n===== the guest rebooted =====\n")
        self.boot()

    def expect(self, patterns, timeout):
        """Like pexpect's expect, across the guest's reboots; the index of the pattern seen."""
        patterns = patterns if isinstance(patterns, list) else [patterns]
        deadline = time.monotonic() + timeout
        while True:
            i = self.vm.expect(patterns + [pexpect.EOF], timeout=max(1, deadline - time.monotonic()))
            if i < len(patterns):
                return i
            self.restart_after_reboot()

    def wait_login_prompt(self, timeout=600):
        self.expect(r"login: ", timeout=timeout)

    def serial_session(self, user, password, timeout=120):
        """Logs in on the serial console; returns at the seegw-cli prompt."""
        self.vm.sendline("")
        self.expect(r"login: ", timeout=timeout)
        self.vm.sendline(user)
        self.expect(r"Password: ", timeout=timeout)
        self.vm.sendline(password)
        return self.expect([r"seegw> ", r"Login incorrect", r"\$ ", r"# "], timeout=timeout)

    def ssh(self, user, key, *command, port=None, stdin=None, timeout=600, extra=()):
        args = ["ssh", "-F", "none", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20", *extra,
                "-p", str(port or self.ports["ssh_in"])]
        if key:
            args += ["-i", key, "-o", "IdentitiesOnly=yes"]
        args += [f"{user}@127.0.0.1", *command]
        return subprocess.run(args, stdin=stdin if stdin is not None else subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)

    def smtp_banner(self, port, timeout=5):
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(512)

    def wait_accepting(self, timeout=900):
        """Until the inside SMTP port answers 220 (the gateway is up and operational)."""
        deadline = time.monotonic() + timeout
        last = b""
        while time.monotonic() < deadline:
            try:
                last = self.smtp_banner(self.ports["smtp_in"])
                if last.startswith(b"220"):
                    return time.monotonic() - self.started
            except OSError:
                pass
            self.drain()
            time.sleep(2)
        raise TimeoutError(f"the appliance did not accept mail within {timeout} s (last banner {last!r})")

    def drain(self):
        """Reads what the console printed, so QEMU never blocks on a full terminal."""
        try:
            while self.vm.read_nonblocking(65536, timeout=0):
                pass
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            if self.powered:
                self.restart_after_reboot()

    def submit(self, sender, rcpts, message, port=None):
        with smtplib.SMTP("127.0.0.1", port or self.ports["smtp_in"], timeout=120) as s:
            return s.sendmail(sender, rcpts, message)

    def power_cut(self):
        """SIGKILL to QEMU: what the guest had not written to its disk is lost, as in a power cut."""
        self.powered = False
        self.vm.kill(signal.SIGKILL)
        self.vm.close(force=True)

    def stop(self):
        if self.vm is not None and self.vm.isalive():
            self.power_cut()
