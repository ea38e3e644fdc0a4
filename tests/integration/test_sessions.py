"""Session semantics: exit codes, signals, stdin EOF, stderr, binary data."""
import hashlib
import os
import subprocess

from conftest import ssh, ssh_argv


def live(daemon, job, keys, name="exec-s"):
    k = keys("user")
    pid = job()
    daemon.add(name, "--pid", str(pid), key=k)
    return k


def test_exit_codes(daemon, job, keys):
    k = live(daemon, job, keys)
    for code in (0, 1, 44):
        assert ssh(k, daemon.port, f"exit {code}").returncode == code


def test_exit_by_signal(daemon, job, keys):
    import asyncio
    import asyncssh

    k = live(daemon, job, keys)

    async def run():
        async with asyncssh.connect("127.0.0.1", daemon.port, username="root", client_keys=[k.path],
                                    known_hosts=None) as conn:
            return await conn.run("kill -TERM $$")
    result = asyncio.run(run())
    assert result.exit_signal is not None and result.exit_signal[0] == "TERM"
    # OpenSSH's client turns an exit-signal into status 255.
    assert ssh(k, daemon.port, "kill -KILL $$").returncode == 255


def test_stdin_eof_reaches_command(daemon, job, keys):
    k = live(daemon, job, keys)
    r = ssh(k, daemon.port, "cat > /tmp/upload.txt; wc -c < /tmp/upload.txt; cat /tmp/upload.txt",
            input="line one\nline two\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "18\nline one\nline two\n"


def test_stderr_is_separate(daemon, job, keys):
    k = live(daemon, job, keys)
    r = ssh(k, daemon.port, "echo to-out; echo to-err >&2; echo more-out")
    assert r.stdout == "to-out\nmore-out\n"
    assert r.stderr == "to-err\n"


def test_output_fully_drained_before_exit(daemon, job, keys):
    k = live(daemon, job, keys)
    r = ssh(k, daemon.port, "seq 1 200000")
    assert r.returncode == 0
    assert r.stdout.splitlines()[-1] == "200000" and len(r.stdout.splitlines()) == 200000


def test_100mib_each_way_binary_clean(daemon, job, keys, tmp_path):
    k = live(daemon, job, keys)
    blob = os.urandom(1 << 20) * 100 + bytes(range(256))
    want = hashlib.sha256(blob).hexdigest()
    up = subprocess.run(ssh_argv(k, daemon.port, "sha256sum; true"), input=blob,
                        capture_output=True, timeout=300)
    assert up.returncode == 0, up.stderr
    assert up.stdout.split()[0].decode() == want
    down = subprocess.run(ssh_argv(k, daemon.port, "head -c 104857600 /dev/urandom | tee /tmp/d | sha256sum >&2; cat /tmp/d"),
                          capture_output=True, timeout=300)
    assert down.returncode == 0
    assert len(down.stdout) == 104857600
    assert hashlib.sha256(down.stdout).hexdigest() == down.stderr.split()[0].decode()


def test_several_sessions_per_connection(daemon, job, keys, tmp_path):
    k = live(daemon, job, keys)
    ctl = str(tmp_path / "mux")
    base = ["-o", "ControlMaster=auto", "-o", f"ControlPath={ctl}", "-o", "ControlPersist=10"]
    outs = []
    for i in range(3):
        r = subprocess.run(ssh_argv(k, daemon.port, f"echo session-{i}", opts=[]) [:1] + base +
                           ssh_argv(k, daemon.port, f"echo session-{i}")[1:],
                           capture_output=True, text=True, timeout=30)
        outs.append(r.stdout.strip())
    subprocess.run(["ssh", "-o", f"ControlPath={ctl}", "-O", "exit", "x"], capture_output=True)
    assert outs == ["session-0", "session-1", "session-2"]
    # One authenticated connection served all three.
    assert daemon.log().count("accepted key") == 1


def test_rsync_both_ways_host_target(daemon, keys, tmp_path):
    k = keys("rsync")
    daemon.add("exec-rsync", "--host", "--user", "root", key=k)
    src = tmp_path / "src"
    for i in range(20):
        (src / f"d{i % 4}").mkdir(parents=True, exist_ok=True)
        (src / f"d{i % 4}" / f"f{i}.bin").write_bytes(os.urandom(1000 * (i + 1)))
    (src / "d0" / "link").symlink_to("f0.bin")
    rsh = " ".join(ssh_argv(k, daemon.port)[:-1])
    dst = tmp_path / "remote"
    r = subprocess.run(["rsync", "-a", "-e", rsh, f"{src}/", f"root@127.0.0.1:{dst}/"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    back = tmp_path / "back"
    r = subprocess.run(["rsync", "-a", "-e", rsh, f"root@127.0.0.1:{dst}/", f"{back}/"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    diff = subprocess.run(["diff", "-r", "--no-dereference", str(src), str(back)], capture_output=True, text=True)
    assert diff.returncode == 0, diff.stdout
    assert os.readlink(back / "d0" / "link") == "f0.bin"


def test_data_survives_key_reexchange(daemon, job, keys):
    """Rekeying every MiB: libssh writes nothing while keys are exchanged, so
    held-back output must go out afterwards, in order and complete."""
    k = live(daemon, job, keys)
    rekey = ["RekeyLimit=1M", "Ciphers=chacha20-poly1305@openssh.com"]
    down = subprocess.run(ssh_argv(k, daemon.port, "head -c 33554432 /dev/urandom | tee /tmp/r | sha256sum >&2; cat /tmp/r",
                                   opts=rekey), capture_output=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert len(down.stdout) == 33554432
    assert hashlib.sha256(down.stdout).hexdigest() == down.stderr.split()[0].decode()
    blob = os.urandom(32 << 20)
    up = subprocess.run(ssh_argv(k, daemon.port, "sha256sum", opts=rekey), input=blob, capture_output=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert up.stdout.split()[0].decode() == hashlib.sha256(blob).hexdigest()
