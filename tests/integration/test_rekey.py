"""Server-side rekeying (OpenSSH's RekeyLimit): the server starts a new key
exchange after limits.rekey_data bytes or limits.rekey_time seconds with
the same keys. The clients' own limits are left far above what is sent, so
every KEXINIT they receive past the first comes from the server."""
import hashlib
import os

import pytest

from conftest import Daemon, paramiko_client, ssh

MIB = 1 << 20
CLIENT_NEVER = ["RekeyLimit=4G none"]


def kexinits(stderr):
    return stderr.count("SSH2_MSG_KEXINIT received")


@pytest.fixture
def rekeying(tmp_path, hostkeys, keys):
    def make(limits):
        d = Daemon(str(tmp_path), hostkeys, f"limits = {{ {limits} }};\n").start()
        made.append(d)
        k = keys("rk")
        d.add("exec-rk", "--host", "--user", "root", key=k)
        return d, k
    made = []
    yield make
    for d in made:
        d.stop()


def test_rekey_by_data_both_ways(rekeying):
    d, k = rekeying('rekey_data = "32K";')
    blob = os.urandom(3 * MIB)
    up = ssh(k, d.port, "sha256sum", input=blob, text=False, opts=["LogLevel=DEBUG1", *CLIENT_NEVER])
    assert up.returncode == 0, up.stderr[-2000:]
    assert up.stdout.split()[0].decode() == hashlib.sha256(blob).hexdigest()
    # 3 MiB at 32 KiB per key would be 96 new keys. libssh checks incoming
    # data once per batch it reads, and the client keeps sending what its
    # window allows until the new keys are in: each key carries 32 KiB plus
    # what was in flight (11-30 keys for 3 MiB here, fewer under load).
    # Without rekey_data this is 1.
    assert kexinits(up.stderr.decode()) >= 3, kexinits(up.stderr.decode())
    down = ssh(k, d.port, "f=$(mktemp); head -c 3145728 /dev/urandom >$f; sha256sum <$f >&2; cat $f; rm $f",
               text=False, opts=["LogLevel=DEBUG1", *CLIENT_NEVER])
    assert down.returncode == 0
    assert len(down.stdout) == 3 * MIB
    assert hashlib.sha256(down.stdout).hexdigest().encode() in down.stderr
    # Outgoing, libssh queues what the relay writes during a key exchange
    # and sends the whole queue under the new key: a key carries 32 KiB
    # plus up to the client's window (~5 keys for 3 MiB here). Soft, but
    # the server does rekey by data: without rekey_data this is 1.
    assert kexinits(down.stderr.decode(errors="replace")) >= 3


def test_rekey_by_time(rekeying):
    d, k = rekeying("rekey_time = 2;")
    # libssh checks the time as packets pass: the client's keepalives (1 s) carry it.
    r = ssh(k, d.port, "sleep 5; echo done", opts=["LogLevel=DEBUG1", "ServerAliveInterval=1", *CLIENT_NEVER])
    assert r.returncode == 0 and r.stdout == "done\n", r.stderr[-2000:]
    assert kexinits(r.stderr) >= 2, kexinits(r.stderr)


def test_default_limits_do_not_rekey_small_sessions(rekeying):
    d, k = rekeying("")
    r = ssh(k, d.port, "head -c 3145728 /dev/zero | sha256sum", opts=["LogLevel=DEBUG1", *CLIENT_NEVER])
    assert r.returncode == 0
    assert kexinits(r.stderr) == 1


def test_paramiko_follows_server_rekeys(rekeying):
    d, k = rekeying('rekey_data = "32K";')
    c = paramiko_client(d, k)
    try:
        _, out, _ = c.exec_command("head -c 3145728 /dev/zero")
        data = out.read()
        assert data == bytes(3 * MIB)
        assert out.channel.recv_exit_status() == 0
    finally:
        c.close()
