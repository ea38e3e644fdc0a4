"""The byte relay under stress: key re-exchanges every MiB while the machine
is busy, several transfers at once, every byte checksummed. libssh polls
and processes packets from inside ssh_channel_write during a rekey; a relay
that lets that re-enter a half-done write corrupts streams or sends memory
to the client (issue 7, item 1)."""
import hashlib
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import paramiko_client, ssh, ssh_argv

SIZE = 64 << 20
REKEY = ["RekeyLimit=1M"]


@pytest.fixture
def cpu_load():
    """Two busy loops on this 2-core machine, bounded to 10 minutes, each in
    its own process group so that nothing outlives the test."""
    procs = [subprocess.Popen(["timeout", "600", "sh", "-c", "while :; do :; done"], start_new_session=True)
             for _ in range(2)]
    yield
    for p in procs:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def live(daemon, job, keys, name):
    k = keys("relay")
    pid = job()
    daemon.add(name, "--pid", str(pid), key=k)
    return k


def test_downloads_with_rekeys_under_load(daemon, job, keys, cpu_load):
    k = live(daemon, job, keys, "exec-dl")
    r = ssh(k, daemon.port, f"head -c {SIZE} /dev/urandom > /tmp/big && sha256sum /tmp/big", timeout=120)
    assert r.returncode == 0, r.stderr
    want = r.stdout.split()[0]

    def fetch(i):
        # Through a pipe into sha256sum, as a user would: the client's output
        # backs up, the channel window closes and reopens while keys change.
        argv = " ".join(f"'{a}'" for a in ssh_argv(k, daemon.port, "cat /tmp/big", opts=REKEY))
        p = subprocess.run(["bash", "-o", "pipefail", "-c", f"{argv} | tee >(wc -c >&2) | sha256sum"],
                           capture_output=True, text=True, timeout=300)
        return p.returncode, int(p.stderr.split()[-1]), p.stdout.split()[0], p.stderr[-300:]

    for _ in range(2):   # 8 downloads, 4 at a time
        with ThreadPoolExecutor(4) as ex:
            results = list(ex.map(fetch, range(4)))
        for rc, n, digest, err in results:
            assert (rc, n, digest) == (0, SIZE, want), err
    assert "AddressSanitizer" not in daemon.log() and "runtime error" not in daemon.log()


def test_uploads_with_rekeys_under_load(daemon, job, keys, cpu_load, tmp_path):
    k = live(daemon, job, keys, "exec-ul")
    blob = tmp_path / "blob"
    with open(blob, "wb") as f:
        f.write(os.urandom(SIZE))
    want = hashlib.sha256(blob.read_bytes()).hexdigest()

    def push(i):
        with open(blob, "rb") as f:
            p = subprocess.run(ssh_argv(k, daemon.port, "sha256sum", opts=REKEY), stdin=f,
                               capture_output=True, timeout=300)
        return p.returncode, p.stdout.split()[0].decode() if p.stdout else "", p.stderr[-300:]

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(push, range(4)))
    for rc, digest, err in results:
        assert (rc, digest) == (0, want), err


def test_both_directions_at_once_with_rekeys(daemon, job, keys, cpu_load, tmp_path):
    """Upload and download through one channel while keys change every MiB."""
    k = live(daemon, job, keys, "exec-bi")
    blob = os.urandom(16 << 20)
    p = subprocess.run(ssh_argv(k, daemon.port, "cat", opts=REKEY), input=blob, capture_output=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    assert hashlib.sha256(p.stdout).hexdigest() == hashlib.sha256(blob).hexdigest()


def test_channel_open_close_loop_never_refused(daemon, job, keys):
    """Closed channels are freed at once: 300 rounds of open/exec/close on one
    connection never hit the per-connection channel limit."""
    k = live(daemon, job, keys, "exec-loop")
    c = paramiko_client(daemon, k)
    try:
        t0 = time.monotonic()
        for i in range(300):
            ch = c.get_transport().open_session(timeout=10)
            ch.exec_command(f"echo {i}")
            out = ch.makefile().read().decode()
            assert out == f"{i}\n"
            assert ch.recv_exit_status() == 0
            ch.close()
        assert time.monotonic() - t0 < 120
    finally:
        c.close()
