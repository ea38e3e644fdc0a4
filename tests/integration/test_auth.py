"""Who gets in where: keys, ports, usernames, limits on unauthenticated work."""
import socket
import subprocess
import time

from conftest import ssh, ssh_argv, wait_for


def test_wrong_key_refused(daemon, job, keys):
    good, bad = keys("good"), keys("bad")
    daemon.add("exec-a", "--pid", str(job()), key=good)
    r = ssh(bad, daemon.port, "echo in")
    assert r.returncode == 255 and "in" not in r.stdout
    assert "Permission denied (publickey)" in r.stderr
    assert ssh(good, daemon.port, "echo in").stdout == "in\n"


def test_key_of_one_execution_never_opens_another(daemon, job, keys, tmp_path):
    ka, kb = keys("ka"), keys("kb")
    other_port = daemon.port + 1 if daemon.port < 65535 else daemon.port - 1
    daemon.add("exec-a", "--pid", str(job(hostname="job-a")), key=ka)
    daemon.add("exec-b", "--pid", str(job(hostname="job-b")), "--port", str(other_port), key=kb)
    # A's key on B's port, even naming B: refused.
    assert ssh(ka, other_port, "hostname").returncode == 255
    assert ssh(ka, other_port, "hostname", user="exec-b").returncode == 255
    # A's key naming B on A's port: refused (the name pins, no fallback).
    daemon.add("exec-c", "--pid", str(job(hostname="job-c")), key=kb)
    assert ssh(ka, daemon.port, "hostname", user="exec-c").returncode == 255
    assert ssh(ka, daemon.port, "hostname").stdout == "job-a\n"
    assert ssh(kb, other_port, "hostname").stdout == "job-b\n"


def test_username_disambiguates(daemon, job, keys):
    k = keys("shared")
    daemon.add("exec-x", "--pid", str(job(hostname="job-x")), key=k)
    daemon.add("exec-y", "--pid", str(job(hostname="job-y")), key=k)
    r = ssh(k, daemon.port, "hostname", opts=["LogLevel=INFO"])
    assert r.returncode == 255
    assert "connect as <execution-id>@host" in r.stderr
    assert "exec-x" in r.stderr and "exec-y" in r.stderr
    assert ssh(k, daemon.port, "hostname", user="exec-y").stdout == "job-y\n"
    assert ssh(k, daemon.port, "hostname", user="exec-x").stdout == "job-x\n"


def test_any_username_when_unambiguous(daemon, job, keys):
    k = keys("any")
    daemon.add("exec-any", "--pid", str(job(hostname="job-any")), key=k)
    for user in ("root", "ubuntu", "someone-else"):
        assert ssh(k, daemon.port, "hostname", user=user).stdout == "job-any\n"


def test_max_auth_tries(tmp_path, hostkeys, job, keys):
    from conftest import Daemon
    d = Daemon(str(tmp_path), hostkeys, "limits = { max_auth_tries = 2; };\n").start()
    try:
        good = keys("good")
        d.add("exec-t", "--pid", str(job()), key=good)
        wrong = [keys(f"w{i}") for i in range(3)]
        argv = ssh_argv(wrong[0], d.port, "true", more_keys=wrong[1:] + [good])
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        # The good key comes last, after two failures: the connection is gone.
        assert r.returncode == 255
        d.wait_log("too many authentication failures")
    finally:
        d.stop()


def test_login_grace_time(tmp_path, hostkeys, job, keys):
    from conftest import Daemon
    d = Daemon(str(tmp_path), hostkeys, "limits = { login_grace_time = 2; };\n").start()
    try:
        d.add("exec-g", "--pid", str(job()), key=keys("k"))
        s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        s.sendall(b"SSH-2.0-stalling\r\n")
        start = time.monotonic()
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        elapsed = time.monotonic() - start
        assert data.startswith(b"SSH-2.0-")
        assert 1.5 < elapsed < 6, elapsed
    finally:
        d.stop()


def test_unauthenticated_connection_cap(tmp_path, hostkeys, job, keys):
    from conftest import Daemon
    d = Daemon(str(tmp_path), hostkeys, "limits = { max_startups = 3; login_grace_time = 20; };\n").start()
    held = []
    try:
        k = keys("k")
        d.add("exec-m", "--pid", str(job()), key=k)
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            assert s.recv(64).startswith(b"SSH-2.0-")
            held.append(s)
        wait_for(lambda: '"unauthenticated":3' in d.ctl("status", "--json").stdout.replace(" ", ""),
                 what="three unauthenticated")
        extra = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        assert extra.recv(64) == b""            # closed without a banner
        assert "limits.max_startups" in d.log()
        for s in held:
            s.close()
        wait_for(lambda: '"unauthenticated":0' in d.ctl("status", "--json").stdout.replace(" ", ""),
                 what="slots freed")
        assert ssh(k, d.port, "echo back").stdout == "back\n"
    finally:
        for s in held:
            s.close()
        d.stop()


def test_keepalive_answered(daemon, job, keys):
    k = keys("alive")
    daemon.add("exec-ka", "--pid", str(job()), key=k)
    r = ssh(k, daemon.port, "sleep 4; echo still-here",
            opts=["ServerAliveInterval=1", "ServerAliveCountMax=2"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "still-here\n"


def test_algorithms_pass_ssh_audit(daemon, job, keys):
    daemon.add("exec-audit", "--pid", str(job()), key=keys("k"))
    r = subprocess.run(["ssh-audit", "-n", "-p", str(daemon.port), "127.0.0.1"],
                       capture_output=True, text=True, timeout=120)
    fails = [l for l in r.stdout.splitlines() if "[fail]" in l]
    assert not fails, "\n".join(fails)
    assert "curve25519-sha256" in r.stdout


def test_ipv6_listen_address(tmp_path, hostkeys, job, keys):
    from conftest import Daemon
    d = Daemon(str(tmp_path), hostkeys)
    d.write_conf()
    with open(d.conf) as f:
        conf = f.read().replace('listen_address = ["127.0.0.1"];', 'listen_address = ["127.0.0.1", "::1"];')
    with open(d.conf, "w") as f:
        f.write(conf)
    d.start()
    try:
        k = keys("v6")
        d.add("exec-v6", "--pid", str(job(hostname="v6-job")), key=k)
        argv = ssh_argv(k, d.port, "hostname; echo $SSH_CLIENT")
        argv[argv.index("root@127.0.0.1")] = "root@::1"
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == "v6-job"
        assert r.stdout.splitlines()[1].startswith("::1 ")
        assert "[::1]:" in d.log()
    finally:
        d.stop()


def test_hostile_username_cannot_forge_log_lines(daemon, job, keys):
    k = keys("k")
    daemon.add("exec-log", "--pid", str(job()), key=k)
    evil = "x\n12:00:00.000 peon-sshd[1] info: accepted key FORGED"
    import paramiko
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("127.0.0.1", daemon.port, username=evil, key_filename=k.path, look_for_keys=False,
              allow_agent=False)
    _, out, _ = c.exec_command("echo ok")
    assert out.read() == b"ok\n"
    c.close()
    log = daemon.log()
    assert "\n12:00:00.000 peon-sshd[1] info: accepted key FORGED" not in log
    assert "x?12:00:00.000" in log


class LibsshProbe:
    """A libssh client (ctypes) that can do what OpenSSH never does: offer
    the same key without a signature again and again
    (ssh_userauth_try_publickey: a key probe)."""
    # enum ssh_options_e and SSH_AUTH_* of libssh 0.10's libssh.h
    HOST, PORT, USER, PROCESS_CONFIG, TIMEOUT = 0, 1, 4, 38, 9

    def __init__(self, port, user="root"):
        import ctypes
        c = self.c = ctypes
        lib = self.lib = ctypes.CDLL("libssh.so.4")
        lib.ssh_new.restype = c.c_void_p
        lib.ssh_options_set.argtypes = [c.c_void_p, c.c_int, c.c_void_p]
        lib.ssh_connect.argtypes = [c.c_void_p]
        lib.ssh_userauth_try_publickey.argtypes = [c.c_void_p, c.c_char_p, c.c_void_p]
        lib.ssh_pki_import_pubkey_file.argtypes = [c.c_char_p, c.POINTER(c.c_void_p)]
        lib.ssh_key_free.argtypes = [c.c_void_p]
        lib.ssh_disconnect.argtypes = [c.c_void_p]
        lib.ssh_free.argtypes = [c.c_void_p]
        self.s = lib.ssh_new()
        no, p, t = c.c_bool(False), c.c_uint(port), c.c_long(10)
        for opt, val in ((self.HOST, c.c_char_p(b"127.0.0.1")), (self.PORT, c.byref(p)),
                         (self.USER, c.c_char_p(user.encode())), (self.PROCESS_CONFIG, c.byref(no)),
                         (self.TIMEOUT, c.byref(t))):
            assert lib.ssh_options_set(self.s, opt, c.cast(val, c.c_void_p)) == 0
        assert lib.ssh_connect(self.s) == 0

    def probe(self, key):
        k = self.c.c_void_p()
        assert self.lib.ssh_pki_import_pubkey_file(key.pub.encode(), self.c.byref(k)) == 0
        try:
            return self.lib.ssh_userauth_try_publickey(self.s, None, k)
        finally:
            self.lib.ssh_key_free(k)

    def close(self):
        self.lib.ssh_disconnect(self.s)
        self.lib.ssh_free(self.s)


def test_key_probes_count_toward_max_auth_tries(tmp_path, hostkeys, job, keys):
    """Probes of a registered key (answered "ok") are tries too: without
    that a client could probe keys on this port without bound."""
    from conftest import Daemon
    d = Daemon(str(tmp_path), hostkeys, "limits = { max_auth_tries = 3; };\n").start()
    try:
        good = keys("good")
        d.add("exec-probe", "--pid", str(job()), key=good)
        c = LibsshProbe(d.port)
        try:
            got = [c.probe(good) for _ in range(6)]
        finally:
            c.close()
        ok, denied = 0, 1      # SSH_AUTH_SUCCESS (the server's PK_OK), SSH_AUTH_DENIED
        assert got[:3] == [ok, ok, ok], got
        assert ok not in got[3:], got
        assert got[3] == denied, got
        d.wait_log("too many authentication attempts from 127.0.0.1:")
        # A normal client (one probe, one signature) spends a single try.
        d.stop()
        d.write_conf("limits = { max_auth_tries = 1; };\n")
        d.start()                   # the execution is restored
        r = ssh(good, d.port, "echo in")
        assert r.returncode == 0 and r.stdout == "in\n", r.stderr
    finally:
        d.stop()


def test_max_connections_per_execution(tmp_path, hostkeys, job, keys):
    """limits.max_connections bounds an execution's live sessions: the next
    login is refused with a message, another execution is not affected,
    sessions from before a daemon restart still count, and a session that
    ends frees its slot."""
    from conftest import Daemon
    d = Daemon(str(tmp_path), hostkeys, "limits = { max_connections = 2; };\n").start()
    held = []
    try:
        k, other = keys("k"), keys("other")
        d.add("exec-lim", "--pid", str(job()), key=k)
        d.add("exec-free", "--pid", str(job()), key=other)
        for _ in range(2):
            held.append(subprocess.Popen(ssh_argv(k, d.port, "sleep 120"), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: len(d.sessions("exec-lim")) == 2, what="two sessions")

        def refused():
            r = ssh(k, d.port, "echo in", opts=["LogLevel=INFO"])
            return r.returncode == 255 and "execution exec-lim already has 2 connections" in r.stderr

        assert refused()
        assert ssh(other, d.port, "echo in").stdout == "in\n"
        d.restart()
        assert len(d.sessions("exec-lim")) == 2       # they outlived the daemon
        assert refused()
        held.pop().kill()
        wait_for(lambda: len(d.sessions("exec-lim")) == 1, what="a slot freed")
        assert ssh(k, d.port, "echo in").stdout == "in\n"
        # A session of this daemon's fills the slot again; its end frees it.
        held.append(subprocess.Popen(ssh_argv(k, d.port, "sleep 120"), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: len(d.sessions("exec-lim")) == 2, what="two sessions again")
        assert refused()
        held.pop().kill()
        wait_for(lambda: len(d.sessions("exec-lim")) == 1, what="the new slot freed")
        assert ssh(k, d.port, "echo in").stdout == "in\n"
        # With the last session from before the restart gone, only this
        # daemon's own count: two sessions fill the slots again.
        held.pop().kill()
        wait_for(lambda: len(d.sessions("exec-lim")) == 0, what="no sessions")
        assert ssh(k, d.port, "echo in").stdout == "in\n"
        for _ in range(2):
            held.append(subprocess.Popen(ssh_argv(k, d.port, "sleep 120"), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: len(d.sessions("exec-lim")) == 2, what="two sessions of this daemon")
        assert refused()
        assert ssh(other, d.port, "echo in").stdout == "in\n"
        held.pop().kill()
        wait_for(lambda: len(d.sessions("exec-lim")) == 1, what="a slot of this daemon's freed")
        assert ssh(k, d.port, "echo in").stdout == "in\n"
    finally:
        for p in held:
            p.kill()
        d.stop()
