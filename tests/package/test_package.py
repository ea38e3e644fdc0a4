"""The Debian package's life: install, upgrade with a live session, remove, purge.

Everything happens in a throwaway root of the test's own, never the machine's
/usr or /etc: a private mount namespace (unshare -m) holding an overlayfs
whose lower layer is the host's / and whose upper layer is a tmpfs of that
namespace, with a fresh /run and /tmp. dpkg runs chrooted into it against a
copy-on-write view of the host's package database; when the namespace ends,
every change is gone.

What is asserted: the files land at their paths (daemon, control tool,
helpers in /usr/lib/peon-sshd, unit, man pages), the configuration is a
conffile, the unit is enabled (deb-systemd-helper's symlink) and keeps
KillMode=process, `peon-sshd -t` passes on the installed configuration, an
edited conffile survives an upgrade untouched, a live SSH session survives
the upgrade plus a daemon restart with the same host key and the restored
execution, remove keeps the configuration and the host keys, and purge
removes both.

What is not covered: systemd itself. No systemd runs in the throwaway root
(its /run is empty), so the maintainer scripts skip `deb-systemd-invoke`;
the test starts and restarts the daemon the way the unit would (SIGTERM to
the main process only, as KillMode=process does) but does not show that
systemd restarts it on upgrade, nor apt's dependency resolution (dpkg -i
against the host's installed libraries). The upgrade is the same build
repacked with a higher version, not a build of a different source.
Network: the daemon listens on 127.0.0.1 only; the client is the host's ssh.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

DEB = os.environ.get("PEON_DEB")
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
UNIT = "/lib/systemd/system/peon-sshd.service"
CONF = "/etc/peon-sshd/peon-sshd.conf"
HOSTKEY = "/var/lib/peon-sshd/ssh_host_ed25519_key"
WANTS = "/etc/systemd/system/multi-user.target.wants/peon-sshd.service"
INSTALLED = ["/usr/sbin/peon-sshd", "/usr/bin/peon-sshctl", "/usr/lib/peon-sshd/peon-sshd-net",
             "/usr/lib/peon-sshd/peon-sftp-server"]
MANPAGES = ["/usr/share/man/man8/peon-sshd.8.gz", "/usr/share/man/man8/peon-sshctl.8.gz"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=15.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Root:
    """The throwaway root: a holder process owns the mount namespace."""

    def __init__(self, base):
        self.base = base
        self.merged = os.path.join(base, "merged")
        layer = os.path.join(base, "layer")
        os.makedirs(self.merged)
        os.makedirs(layer)
        script = f"""set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 peon-pkgtest {layer}
mkdir {layer}/upper {layer}/work
mount -t overlay peon-pkgtest -o lowerdir=/,upperdir={layer}/upper,workdir={layer}/work {self.merged}
mount -t proc proc {self.merged}/proc
mount --rbind /dev {self.merged}/dev
mount --rbind /sys {self.merged}/sys
mount -t tmpfs -o mode=0755 run {self.merged}/run
mount -t tmpfs -o mode=1777 tmp {self.merged}/tmp
echo ready
exec sleep infinity
"""
        self.holder = subprocess.Popen(["unshare", "-m", "sh", "-c", script], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
        line = self.holder.stdout.readline()
        if line.strip() != "ready":
            self.holder.kill()
            raise AssertionError("cannot set up the throwaway root: " + self.holder.stderr.read())
        self.ns = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")

    def argv(self, *cmd):
        return ["nsenter", "-t", str(self.holder.pid), "-m", "chroot", self.merged,
                "/usr/bin/env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive", *cmd]

    def run(self, *cmd, input=None, check=True):
        r = subprocess.run(self.argv(*cmd), input=input, capture_output=True, text=True, timeout=90,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check:
            assert r.returncode == 0, f"{' '.join(cmd)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def exists(self, path):
        # A dangling symlink (an enablement left behind) counts too.
        return self.run("sh", "-c", 'test -e "$1" || test -L "$1"', "-", path, check=False).returncode == 0

    def read(self, path):
        return self.run("cat", path).stdout

    def close(self):
        # Every process left in the namespace (daemon, monitors), then the holder.
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if int(pid) != self.holder.pid and os.readlink(f"/proc/{pid}/ns/mnt") == self.ns:
                    os.kill(int(pid), signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass
        self.holder.kill()
        self.holder.wait()


class Daemon:
    """peon-sshd started from the installed binary, as the unit would."""

    def __init__(self, root, log):
        self.root, self.logpath, self.proc = root, log, None

    def start(self):
        logf = open(self.logpath, "ab")
        before = logf.tell()
        self.proc = subprocess.Popen(self.root.argv("/usr/sbin/peon-sshd", "-d"), stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: b" ready: control socket " in self.log(before) or self.proc.poll() is not None,
                 what="daemon ready")
        assert self.proc.poll() is None, self.log().decode(errors="replace")

    def stop(self):
        # systemd's stop under KillMode=process: SIGTERM to the main process only.
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)

    def log(self, start=0):
        with open(self.logpath, "rb") as f:
            f.seek(start)
            return f.read()


def repack(deb, out, version):
    """The same package with a higher version: an upgrade for dpkg."""
    tree = out + ".d"
    subprocess.run(["dpkg-deb", "-R", deb, tree], check=True)
    ctl = os.path.join(tree, "DEBIAN", "control")
    with open(ctl) as f:
        text = re.sub(r"^Version: .*$", f"Version: {version}", f.read(), flags=re.M)
    with open(ctl, "w") as f:
        f.write(text)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", tree, out], check=True, capture_output=True)
    shutil.rmtree(tree)
    return out


@pytest.fixture
def root(tmp_path):
    r = Root(str(tmp_path / "root"))
    yield r
    r.close()


def ssh_argv(key, port, known_hosts, *cmd, strict="accept-new"):
    return ["ssh", "-F", "/dev/null", "-i", key, "-p", str(port), "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", f"StrictHostKeyChecking={strict}",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=10", "root@127.0.0.1", *cmd]


def test_install_upgrade_remove_purge(root, tmp_path):
    assert DEB, "PEON_DEB is not set: run this through `make package-test`"
    deb_in_root = "/tmp/peon-sshd.deb"
    upgrade_in_root = "/tmp/peon-sshd-upgrade.deb"
    with open(DEB, "rb") as f:
        subprocess.run(root.argv("sh", "-c", f"cat > {deb_in_root}"), input=f.read(), check=True)
    upgrade = repack(DEB, str(tmp_path / "upgrade.deb"), "0.1.0+pkgtest1")
    with open(upgrade, "rb") as f:
        subprocess.run(root.argv("sh", "-c", f"cat > {upgrade_in_root}"), input=f.read(), check=True)
    assert not root.exists("/usr/sbin/peon-sshd"), "the throwaway root already has peon-sshd"

    # Install.
    root.run("dpkg", "-i", deb_in_root)
    for path in INSTALLED:
        assert root.run("test", "-x", path, check=False).returncode == 0, f"{path} is not installed"
    for path in MANPAGES + [CONF, UNIT]:
        assert root.exists(path), f"{path} is not installed"
    assert CONF in root.run("dpkg-query", "-W", "-f=${Conffiles}", "peon-sshd").stdout
    unit = root.read(UNIT)
    assert "\nKillMode=process\n" in unit
    assert "\nExecStart=/usr/sbin/peon-sshd\n" in unit and "/usr/local" not in unit
    assert root.run("readlink", WANTS).stdout.strip() == UNIT, "the unit is not enabled"
    root.run("/usr/sbin/peon-sshd", "-t")

    # The admin edits the conffile (loopback only, for this test) and sets the port.
    port = free_port()
    conf = root.read(CONF)
    assert 'listen_address = ["0.0.0.0", "::"];' in conf
    conf = conf.replace('listen_address = ["0.0.0.0", "::"];',
                        'listen_address = ["127.0.0.1"];\n# edited by the admin')
    conf = conf.replace('advertise_address = "";', 'advertise_address = "127.0.0.1";')
    root.run("sh", "-c", f"cat > {CONF}", input=conf)
    root.run("sh", "-c", "cat > /etc/peon.config", input=f"DEBUG_PORT={port}\n")
    root.run("/usr/sbin/peon-sshd", "-t")

    daemon = Daemon(root, str(tmp_path / "daemon.log"))
    daemon.start()
    assert root.exists(HOSTKEY), "no host key was generated"
    hostkey_pub = root.read(HOSTKEY + ".pub")

    key = str(tmp_path / "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    with open(key + ".pub") as f:
        pub = f.read().strip()
    root.run("peon-sshctl", "add", "pkgtest", "--host", "--user", "root", "--key", pub)

    known_hosts = str(tmp_path / "known_hosts")
    session = subprocess.Popen(ssh_argv(key, port, known_hosts,
                                        'echo started; while read l; do echo "got $l"; done'),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert session.stdout.readline() == "started\n", session.stderr.read()

        # Upgrade while the session is live, then restart as the unit's
        # postinst would (systemctl restart: only the main process).
        root.run("dpkg", "-i", upgrade_in_root)
        assert root.run("dpkg-query", "-W", "-f=${Version}", "peon-sshd").stdout == "0.1.0+pkgtest1"
        assert "# edited by the admin" in root.read(CONF), "the edited conffile was replaced on upgrade"
        assert not root.exists(CONF + ".dpkg-dist") and not root.exists(CONF + ".dpkg-new")
        daemon.stop()
        daemon.start()

        session.stdin.write("ping\n")
        session.stdin.flush()
        assert session.stdout.readline() == "got ping\n", "the live session did not survive the upgrade"
        session.stdin.close()
        assert session.wait(timeout=20) == 0, session.stderr.read()
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()

    # Same host key after the upgrade (strict checking against what the
    # first login recorded), and the execution was restored.
    assert root.read(HOSTKEY + ".pub") == hostkey_pub
    r = subprocess.run(ssh_argv(key, port, known_hosts, "echo", "again", strict="yes"),
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout == "again\n", r.stderr

    # Remove: the daemon is stopped (the prerm's systemctl stop), the
    # programs go, the configuration and the host keys stay.
    daemon.stop()
    root.run("dpkg", "-r", "peon-sshd")
    for path in INSTALLED + MANPAGES + [UNIT]:
        assert not root.exists(path), f"{path} is left after remove"
    assert "# edited by the admin" in root.read(CONF)
    assert root.read(HOSTKEY + ".pub") == hostkey_pub, "remove deleted the host keys"
    assert root.run("dpkg-query", "-W", "-f=${Status}", "peon-sshd").stdout == "deinstall ok config-files"

    # Purge: configuration, host keys and the enablement go.
    root.run("dpkg", "-P", "peon-sshd")
    for path in [CONF, "/var/lib/peon-sshd", WANTS]:
        assert not root.exists(path), f"{path} is left after purge"
    r = root.run("dpkg-query", "-W", "peon-sshd", check=False)
    assert r.returncode != 0, "dpkg still knows peon-sshd after purge"
