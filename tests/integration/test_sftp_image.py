"""The SFTP server inside a job is a fresh image run from a sealed memfd
(issue 8: no process inside a job holds host private key bytes; the
CVE-2019-5736 class: no host file executed in the job)."""
import os
import shutil
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from conftest import SSHD, Daemon, paramiko_client, wait_for


def host_ed25519_seed(keydir):
    with open(os.path.join(keydir, "ssh_host_ed25519_key"), "rb") as f:
        key = serialization.load_ssh_private_key(f.read(), None)
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


# Mappings larger than this are skipped: only AddressSanitizer's shadow
# (terabytes reserved, SAN=1 builds) is that large, and it holds no copy of
# program data; the heap of a sanitized process lives in its allocator's
# regions, which are mapped in much smaller pieces.
SCAN_MAPPING_MAX = 8 << 30
SCAN_CHUNK = 64 << 20


def memory_holds(pid, needle):
    """Search every readable mapping of a process for the bytes, in chunks
    that overlap by len(needle) - 1 so nothing straddling a cut is missed."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            if hi - lo > SCAN_MAPPING_MAX:
                continue
            pos = lo
            while pos < hi:
                end = min(hi, pos + SCAN_CHUNK)
                try:
                    mem.seek(pos)
                    if needle in mem.read(min(hi, end + len(needle) - 1) - pos):
                        return True
                except (OSError, OverflowError, ValueError):
                    break
                pos = end
    return False


def sftp_pids():
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == "peon-sftp":
                        found.append(int(p))
            except OSError:
                pass
    return found


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def ppid(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("PPid:")).split()[1])


def test_sftp_server_holds_no_host_key_and_no_host_path(daemon, job, keys):
    k = keys("img")
    daemon.add("exec-img", "--pid", str(job(uid=1000, gid=1000, cwd="/home/job")), key=k)
    seed = host_ed25519_seed(daemon.keydir)
    c = paramiko_client(daemon, k)
    try:
        sf = c.open_sftp()
        assert sf.normalize(".") == "/home/job"
        pid = wait_for(lambda: sftp_pids(), what="the SFTP process")[0]
        assert os.readlink(f"/proc/{pid}/exe").startswith("/memfd:peon-sftp-server")
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        assert "\nUid:\t1000\t1000\t1000\t1000\n" in status
        # The scan works: the connection's network child (the monitor's
        # other child) does hold the key; the monitor, which forked the
        # SFTP process, does not, and neither does the SFTP process.
        monitor = ppid(pid)
        net = [c for c in children(monitor) if comm(c) == "peon-sshd-net"]
        assert len(net) == 1
        assert memory_holds(net[0], seed)
        assert not memory_holds(monitor, seed)
        assert not memory_holds(pid, seed)
        sf.close()
    finally:
        c.close()


def test_sftp_refused_with_reason_when_the_image_is_unsafe(tmp_path, hostkeys, job, keys):
    """An image anyone may have changed is never run inside a job."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(SSHD, bindir / "peon-sshd")
    shutil.copy(os.path.join(os.path.dirname(SSHD), "peon-sftp-server"), bindir / "peon-sftp-server")
    shutil.copy(os.path.join(os.path.dirname(SSHD), "peon-sshd-net"), bindir / "peon-sshd-net")
    os.chmod(bindir / "peon-sftp-server", 0o777)
    d = Daemon(str(tmp_path), hostkeys, sshd=str(bindir / "peon-sshd")).start()
    try:
        assert "SFTP is unavailable" in d.log() and "writable only by root" in d.log()
        k = keys("img")
        d.add("exec-noimg", "--pid", str(job()), key=k)
        c = paramiko_client(d, k)
        try:
            with pytest.raises(Exception):
                c.open_sftp()
        finally:
            c.close()
        wait_for(lambda: "cannot start sftp: SFTP is unavailable on this worker" in d.log(), what="refusal")
    finally:
        d.stop()
