"""peon-sshctl and configuration: every bad input gets one clear sentence and
changes nothing."""
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import CTL, SSHD, Daemon, bulk_add, ctl_raw, ssh, wait_for


def listed(daemon):
    return [e["id"] for e in json.loads(daemon.ctl("list", "--json", check=True).stdout)["executions"]]


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_add_prints_connect_line_and_lists(daemon, job, keys):
    k = keys("k")
    r = daemon.add("exec-1", "--pid", str(job()), key=k)
    assert f"ssh -i <path-to-private-key> -p {daemon.port} -t 127.0.0.1 /bin/bash" in r.stdout
    out = daemon.ctl("list", check=True).stdout
    assert "exec-1" in out and str(daemon.port) in out
    st = json.loads(daemon.ctl("status", "--json", check=True).stdout)
    assert st["executions"] == 1 and st["default_port"] == daemon.port
    assert st["default_port_source"].endswith("peon.config:3")


@pytest.mark.parametrize("args,message", [
    (["--pid", "PID", "--key", "ssh-dss AAAAB3NzaC1kc3MAAACBAM3h28Gq"], "DSA keys (ssh-dss) are not accepted"),
    (["--pid", "PID", "--key", "ssh-ed25519 AAAA garbage"], "--key:1: the base64 key data is not a valid ssh-ed25519 key"),
    (["--pid", "PID", "--key", 'environment="A=1" ssh-ed25519 AAAA'], 'key option "environment" is not supported'),
    (["--pid", "PID", "KEY", "--port", "80"], "--port 80: use a port between 1024 and 65535"),
    (["--pid", "PID", "KEY", "--port", "70000"], "--port 70000: use a port between 1024 and 65535"),
    (["--pid", "4194000", "KEY"], "no process with pid 4194000"),
    (["--pid", "2", "KEY"], "pid 2 (kthreadd) is a kernel thread, not a job's process: give the pid of a "
                            "process running in the job"),
    (["--pid", "PID", "KEY", "--user", "nosuchuser"], "user 'nosuchuser' does not exist in the job"),
    (["--host", "KEY"], "--host needs --user"),
    (["--host", "KEY", "--user", "nosuchuser"], "user 'nosuchuser' does not exist on this worker"),
    (["KEY"], "a target is required: --docker CONTAINER, --containerd NAMESPACE/ID, --pid PID or --host"),
    (["--pid", "PID"], "at least one key is required"),
    (["--pid", "PID", "KEY", "--ttl", "soon"], "--ttl soon: not a duration"),
    (["--pid", "PID", "--key-file", "/nonexistent/keys"], "--key-file /nonexistent/keys: No such file"),
])
def test_bad_add_changes_nothing(daemon, job, keys, args, message):
    k = keys("k")
    pid = str(job())
    argv = [a.replace("PID", pid) for a in args]
    argv = sum((["--key-file", k.pub] if a == "KEY" else [a] for a in argv), [])
    assert_add_refused(daemon, argv, message)


def assert_add_refused(daemon, argv, message):
    r = daemon.ctl("add", "exec-bad", *argv)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1          # one sentence, one line
    assert listed(daemon) == []
    assert not port_open(daemon.port)         # nothing was opened


def test_zombie_pid_refused(daemon, keys):
    # A child of ours that exited and is not reaped: no namespaces, no root
    # for any session to enter.
    child = subprocess.Popen(["true"])
    try:
        wait_for(lambda: open(f"/proc/{child.pid}/stat").read().split(") ")[1][0] == "Z", what="zombie")
        assert_add_refused(daemon, ["--pid", str(child.pid), "--key-file", keys("k").pub],
                           f"pid {child.pid} (true) has exited (a zombie its parent has not reaped): "
                           "there is no job left to enter")
    finally:
        child.wait()


def test_private_key_file_refused(daemon, job, keys):
    k = keys("k")
    assert_add_refused(daemon, ["--pid", str(job()), "--key-file", k.path],
                       f"--key-file {k.path} is a private key: give its public half (the .pub file, or the "
                       f"output of ssh-keygen -y -f {k.path})")
    daemon.add("exec-pk", "--pid", str(job()), key=k)
    r = daemon.ctl("keys", "exec-pk", "--add-file", k.path)
    assert r.returncode == 1
    assert f"--add-file {k.path} is a private key" in r.stderr


def test_add_json(daemon, job, keys, tmp_path):
    """What a job controller reads: the same address, port, connect line and
    known_hosts line as the execution's log, without parsing prose."""
    k = keys("k")
    log = tmp_path / "exec.log"
    r = daemon.add("exec-json", "--pid", str(job(hostname="json-job")), "--log-file", str(log), "--json", key=k)
    out = json.loads(r.stdout)
    assert out["version"] == 1 and out["ok"] is True
    assert out["address"] == "127.0.0.1" and out["port"] == daemon.port
    assert out["execution"]["id"] == "exec-json" and out["execution"]["port"] == daemon.port
    lines = log.read_text().splitlines()
    assert lines[0] == "SSH debug access ready. Connect with: " + out["connect"]
    [hk] = out["host_keys"]
    assert lines[1] == (f"SSH host key: {hk['type']} {hk['fingerprint']} "
                        f"(known_hosts line: {hk['known_hosts']})")
    assert hk["known_hosts"].startswith(f"[127.0.0.1]:{daemon.port} ssh-ed25519 ")
    kh = tmp_path / "known_hosts"
    kh.write_text(hk["known_hosts"] + "\n")
    r = ssh(k, daemon.port, "hostname",
            opts=(f"UserKnownHostsFile={kh}", "StrictHostKeyChecking=yes"))
    assert r.stdout == "json-job\n", r.stderr


def test_list_and_sessions_json_carry_version(daemon, job, keys):
    daemon.add("exec-v", "--pid", str(job()), key=keys("k"))
    for cmd in (["list"], ["sessions"], ["sessions", "exec-v"]):
        out = json.loads(daemon.ctl(*cmd, "--json", check=True).stdout)
        assert out["version"] == 1, (cmd, out)


COMMANDS = ["add", "remove", "keys", "ttl", "refresh", "kill", "list", "sessions", "status"]


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_answers_help(tmp_path, cmd, flag):
    # No daemon, and an unprivileged user: help needs neither.
    r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        CTL, "-S", str(tmp_path / "none.sock"), cmd, flag], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: peon-sshctl {cmd}"), r.stdout
    assert r.stderr == ""


def test_unknown_command(tmp_path):
    r = subprocess.run([CTL, "-S", str(tmp_path / "none.sock"), "frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr == ("peon-sshctl: unknown command frobnicate; the commands are: " + ", ".join(COMMANDS) +
                        " (see peon-sshctl --help)\n")


@pytest.mark.parametrize("cmd", ["list", "status"])
@pytest.mark.parametrize("extra", [["x"], ["x", "y"]])
def test_commands_without_arguments_say_so(tmp_path, cmd, extra):
    r = subprocess.run([CTL, "-S", str(tmp_path / "none.sock"), cmd, *extra], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr == f"peon-sshctl: {cmd} takes no arguments\n"


def test_daemon_as_non_root_says_root_is_needed(tmp_path):
    base = tempfile.mkdtemp(prefix="peon-nonroot-")
    os.chmod(base, 0o755)
    try:
        conf = os.path.join(base, "peon-sshd.conf")
        with open(conf, "w") as f:
            f.write(f'runtime_dir = "{base}/run";\nhost_key_dir = "{base}/keys";\n'
                    f'peon_config = "{base}/peon.config";\n')
        os.chmod(conf, 0o644)
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", SSHD, "-f", conf],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 1
        uid = int(subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout)
        assert r.stderr == ("peon-sshd: needs root: it enters jobs' namespaces and runs each connection as a "
                            f"uid of its own (running as uid {uid})\n")
        assert os.listdir(base) == ["peon-sshd.conf"]        # nothing was created
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_bad_key_names_file_and_line(daemon, job, keys, tmp_path):
    good = keys("good")
    f = tmp_path / "authorized_keys"
    f.write_text(f"# team keys\n{good.line()}\n\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDEqj7kKNHF\n")
    r = daemon.ctl("add", "exec-k", "--pid", str(job()), "--key-file", str(f))
    assert r.returncode == 1
    assert f"{f}:4:" in r.stderr


def test_short_rsa_refused(daemon, job, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", str(tmp_path / "r")], check=True)
    r = daemon.ctl("add", "exec-r", "--pid", str(job()), "--key-file", str(tmp_path / "r.pub"))
    assert "RSA key of 1024 bits is too short" in r.stderr


def test_port_taken_by_another_program(daemon, job, keys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        r = daemon.add("exec-p", "--pid", str(job()), "--port", str(taken), key=keys("k"), check=False)
        assert r.returncode == 1
        assert f"port {taken} on 127.0.0.1 is already in use by another program" in r.stderr
    assert listed(daemon) == []


def test_duplicate_and_invalid_ids(daemon, job, keys):
    k = keys("k")
    pid = str(job())
    daemon.add("exec-d", "--pid", pid, key=k)
    r = daemon.add("exec-d", "--pid", pid, key=k, check=False)
    assert "execution exec-d is already registered; remove it first" in r.stderr
    r = daemon.add("../etc", "--pid", pid, key=k, check=False)
    assert "execution id '../etc' is invalid" in r.stderr
    assert daemon.ctl("remove", "nope").stderr.strip() == "peon-sshctl: no execution 'nope' is registered"
    assert listed(daemon) == ["exec-d"]


def test_key_url(daemon, job, keys, tmp_path):
    k = keys("web")
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "keys").write_text(k.line() + "\n")
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "www"))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        r = daemon.ctl("add", "exec-url", "--pid", str(job()), "--key-url", base + "/missing")
        assert "server answered HTTP 404" in r.stderr
        daemon.ctl("add", "exec-url", "--pid", str(job(hostname="url-job")), "--key-url", base + "/keys", check=True)
        assert ssh(k, daemon.port, "hostname").stdout == "url-job\n"
    finally:
        srv.shutdown()
    # Plain http to anything but loopback is refused before any connection.
    r = daemon.ctl("add", "exec-url2", "--pid", str(job()), "--key-url", "http://192.0.2.1/keys")
    assert "only https URLs (or http on this machine's loopback)" in r.stderr


def test_control_socket_is_root_only(tmp_path, hostkeys):
    # An unprivileged uid must reach the socket to be refused by its peer
    # credentials: outside pytest's 0700 tree, in traversable directories.
    base = tempfile.mkdtemp(prefix="peon-ctl-")
    os.chmod(base, 0o755)
    d = Daemon(base, hostkeys, 'control_socket_mode = "0666";\n').start()
    os.chmod(d.run, 0o755)
    try:
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            CTL, "-S", d.sock, "list"], capture_output=True, text=True)
        assert r.returncode == 1
        assert "permission denied: only root may control peon-sshd" in r.stderr
    finally:
        d.stop()
        shutil.rmtree(base, ignore_errors=True)
    d = Daemon(str(tmp_path), hostkeys).start()
    try:
        assert oct(os.stat(d.sock).st_mode & 0o777) == "0o600"
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            CTL, "-S", d.sock, "list"], capture_output=True, text=True)
        assert r.returncode == 2
        assert r.stderr == f"peon-sshctl: needs root: the control socket {d.sock} is root's (Permission denied)\n"
    finally:
        d.stop()


def test_ctl_without_daemon(tmp_path):
    r = subprocess.run([CTL, "-S", str(tmp_path / "none.sock"), "status"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "cannot reach peon-sshd at" in r.stderr and "is it running?" in r.stderr


def conf_check(tmp_path, body, *flags):
    conf = tmp_path / "bad.conf"
    conf.write_text(body)
    return subprocess.run([SSHD, "-f", str(conf), *flags], capture_output=True, text=True)


def test_config_check_names_file_and_line(tmp_path):
    r = conf_check(tmp_path, f'peon_config = "{tmp_path}/p";\n\nlisten_adress = ["::"];\n', "-t")
    assert r.returncode == 1
    assert f"{tmp_path}/bad.conf:3: listen_adress: unknown setting" in r.stderr
    r = conf_check(tmp_path, "limits = { login_grace_time = 0; };\n", "-t")
    assert ":1: login_grace_time: 0 is outside 1-3600" in r.stderr
    r = conf_check(tmp_path, "limits = {\n", "-t")
    assert r.returncode == 1 and "bad.conf:" in r.stderr
    r = conf_check(tmp_path, 'algorithms = { ciphers = "rot13"; };\n', "-t")
    assert r.returncode == 1 and "algorithms.ciphers" in r.stderr
    # Valid for libssh, but peon-sshd has no ECDSA host key to offer.
    r = conf_check(tmp_path, 'algorithms = { host_keys = "ecdsa-sha2-nistp256"; };\n', "-t")
    assert r.returncode == 1
    assert ('algorithms.host_keys "ecdsa-sha2-nistp256" offers none of the host keys peon-sshd has '
            '(ssh-ed25519, rsa-sha2-512, rsa-sha2-256)') in r.stderr, r.stderr
    (tmp_path / "p").write_text("DEBUG_PORT=80\n")
    r = conf_check(tmp_path, f'peon_config = "{tmp_path}/p";\n', "-t")
    assert f'{tmp_path}/p:1: DEBUG_PORT="80" is not a port between 1024 and 65535' in r.stderr


def test_config_print(tmp_path):
    (tmp_path / "p").write_text("A=1\nDEBUG_PORT='2233' # for debugging\n")
    r = conf_check(tmp_path, f'peon_config = "{tmp_path}/p";\nhost_key_dir = "{tmp_path}/k";\n'
                   'limits = { max_auth_tries = 3; };\n', "-T")
    assert r.returncode == 0, r.stderr
    assert f"debug_port = 2233;  # from {tmp_path}/p:2" in r.stdout
    assert "max_auth_tries = 3;" in r.stdout and "login_grace_time = 30;" in r.stdout


def test_unsafe_host_key_dir_refused(tmp_path, hostkeys):
    d = Daemon(str(tmp_path), hostkeys)
    os.chmod(d.keydir, 0o777)
    p = subprocess.run([SSHD, "-f", d.conf, "-d"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert f"host key directory {d.keydir} is writable by group or others (mode 0777)" in p.stderr
    os.chmod(d.keydir, 0o700)
    os.chmod(os.path.join(d.keydir, "ssh_host_ed25519_key"), 0o644)
    p = subprocess.run([SSHD, "-f", d.conf, "-d"], capture_output=True, text=True, timeout=20)
    assert "is accessible by group or others (mode 0644)" in p.stderr


def test_host_keys_generated_once(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text(f'host_key_dir = "{tmp_path}/keys";\nruntime_dir = "{tmp_path}/run";\n'
                    f'peon_config = "{tmp_path}/none";\nlisten_address = ["127.0.0.1"];\n')
    for _ in range(2):
        p = subprocess.Popen([SSHD, "-f", str(conf), "-d"], stderr=subprocess.PIPE, text=True)
        from conftest import wait_for
        wait_for(lambda: os.path.exists(tmp_path / "run" / "control.sock"), what="start")
        p.terminate()
        p.wait()
        if _ == 0:
            first = {n: (tmp_path / "keys" / n).read_bytes() for n in os.listdir(tmp_path / "keys")}
    for name in ("ssh_host_ed25519_key", "ssh_host_rsa_key"):
        st = os.stat(tmp_path / "keys" / name)
        assert st.st_mode & 0o777 == 0o600
        assert (tmp_path / "keys" / name).read_bytes() == first[name]
    out = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "keys" / "ssh_host_rsa_key.pub")],
                         capture_output=True, text=True).stdout
    assert out.startswith("3072 ")


def test_shipped_example_config_is_valid():
    example = os.path.join(os.path.dirname(SSHD), "..", "config", "peon-sshd.conf")
    r = subprocess.run([SSHD, "-f", example, "-t"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([SSHD, "-f", example, "-T"], capture_output=True, text=True)
    assert "providers = [];" in r.stdout and "retry_for = 300;" in r.stdout


# ---- the control socket never stalls the daemon (issue 7, item 4) ----

def raw_add(daemon, key, **fields):
    req = {"cmd": "add", "id": "exec-raw", "target": {"type": "host"}, "user": "root", "keys": [key.line()]}
    req.update(fields)
    return ctl_raw(daemon, req)


def test_unread_big_reply_does_not_stall_the_daemon(daemon, keys):
    bulk_add(daemon, 1023, 8)
    k = keys("k")
    daemon.add("exec-live", "--host", "--user", "root", key=k)
    hog = socket.socket(socket.AF_UNIX)
    hog.connect(daemon.sock)
    hog.sendall(b'{"cmd": "list"}\n')      # and never reads the ~1 MB reply
    t_hog = time.monotonic()
    try:
        time.sleep(0.3)
        t0 = time.monotonic()
        r = daemon.ctl("status", "--json")
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - t0 < 1.0
        assert ssh(k, daemon.port, "echo in").stdout == "in\n"
        # Served while the reply was still stuck: a daemon that waited on the
        # hog would answer only once the reply is dropped, 10 s in. (A bound
        # on the login's own duration measured the machine's load instead.)
        assert time.monotonic() - t_hog < 6.0
        # A reply nobody drains is dropped after a bounded time (10 s).
        time.sleep(max(0.0, t_hog + 12 - time.monotonic()))
        hog.settimeout(5)
        got = b""
        while True:
            chunk = hog.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        assert got and not got.endswith(b"\n")
    finally:
        hog.close()


def test_idle_control_clients_do_not_lock_out_others(daemon):
    idle = []
    try:
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX)
            s.connect(daemon.sock)
            idle.append(s)
        time.sleep(0.2)
        t0 = time.monotonic()
        r = daemon.ctl("status", "--json")
        assert r.returncode == 0, r.stderr
        assert time.monotonic() - t0 < 1.0
    finally:
        for s in idle:
            s.close()


def test_idle_control_client_is_timed_out(daemon):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(daemon.sock)
        s.sendall(b'{"cmd": "status"')     # never completes its line
        t0 = time.monotonic()
        assert s.recv(4096) == b""
        assert 3 < time.monotonic() - t0 < 10


@pytest.mark.parametrize("port", [4294968318, "DEFAULT+2**32", -1, 65536, 1023])
def test_raw_port_out_of_range_refused(daemon, keys, port):
    if port == "DEFAULT+2**32":
        port = daemon.port + 2**32          # would wrap to the default port
    r = raw_add(daemon, keys("k"), port=port)
    assert not r["ok"]
    assert r["error"] == f"port {port} is not allowed: use a port between 1024 and 65535"
    assert listed(daemon) == []


@pytest.mark.parametrize("fields,message", [
    ({"expires": 1}, "unknown field 'expires' in add request"),
    ({"created": 1}, "unknown field 'created' in add request"),
    ({"port": "2222"}, "port must be an integer"),
    ({"port": 2222.5}, "port must be an integer"),
    ({"ttl": 0}, "ttl must be"),
    ({"ttl": -5}, "ttl must be"),
    ({"ttl": 2**40}, "ttl must be"),
    ({"ttl": "10"}, "ttl must be"),
    ({"target": {"type": "pid", "pid": 2**32 + 1}}, "target pid must be a process id between 1 and 4194304"),
    ({"target": {"type": "pid", "pid": "1"}}, "target pid must be a process id between 1 and 4194304"),
    ({"target": {"type": "host", "starttime": 5}}, "unknown field 'starttime' in add request's target"),
    ({"id": 7}, "execution id must be a string"),
    ({"no_forwarding": ["tunnel"]}, 'no_forwarding: "tunnel" is not one of local, remote, agent, x11'),
    ({"no_forwarding": "agent"}, "no_forwarding must be a list of local, remote, agent, x11"),
    ({"no_forwarding": ["agent", 1]}, 'no_forwarding: "" is not one of local, remote, agent, x11'),
])
def test_raw_add_fields_checked(daemon, keys, fields, message):
    r = raw_add(daemon, keys("k"), **fields)
    assert not r["ok"]
    assert message in r["error"], r["error"]
    assert listed(daemon) == []


def test_raw_requests_of_other_commands_checked(daemon):
    assert ctl_raw(daemon, {"cmd": "list", "verbose": 1})["error"] == "unknown field 'verbose' in list request"
    assert ctl_raw(daemon, {"cmd": "remove", "id": 5})["error"] == "execution id must be a string"
    r = ctl_raw(daemon, {"cmd": "kill", "pid": 2**32 + 1})
    assert r["error"] == "pid must be a process id between 1 and 4194304"
    assert ctl_raw(daemon, {"cmd": 3})["error"] == 'request has no "cmd"'


def test_routing_cost_independent_of_registry_size(tmp_path, hostkeys, job, keys):
    """Issue 7 item 3: 1,024 executions x 8 keys must not make a login slower
    (it cost ~140 ms when each key probe re-read the registry file).

    Two daemons, one with 1 execution and one with 1,024, logged into in
    turn (alternating which goes first), so load from anything else on the
    machine falls on both alike; the statistic is the median of the paired
    differences. This machine is shared and noisy: a trial can be off by
    several ms, so up to three trials are run and one must stay within
    5 ms. A real per-execution cost shows in every trial."""
    k = keys("k")
    pid = job()        # a job, not --host: the host's root may have a slow .bashrc
    daemons = []
    for name in ("small", "big"):
        os.mkdir(tmp_path / name)
        daemons.append(Daemon(str(tmp_path / name), hostkeys).start())
    small, big = daemons

    def login(d):
        t0 = time.monotonic()
        assert ssh(k, d.port, "true").returncode == 0
        return time.monotonic() - t0
    try:
        for d in daemons:
            d.add("exec-0", "--pid", str(pid), key=k)
        bulk_add(big, 1023, 8)
        for d in daemons:
            login(d)                         # warm up
        trials = []
        for _ in range(3):
            diffs = []
            for i in range(20):
                if i % 2:
                    b, s = login(big), login(small)
                else:
                    s, b = login(small), login(big)
                diffs.append(b - s)
            trials.append(statistics.median(diffs))
            print(f"1,024 vs 1 execution: median paired difference {trials[-1] * 1000:+.1f} ms")
            if trials[-1] < 0.005:
                break
        assert min(trials) < 0.005, trials
    finally:
        for d in daemons:
            d.stop()
