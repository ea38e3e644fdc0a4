"""Executions that are containers (target.c, follow.c, docker.c,
containerd.c): `add --docker` and `--containerd` against a real dockerd of
the tests' own; access follows the container across `docker restart` and
ends, with the reason in the execution log, when it stops or is removed."""
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import CTL, Daemon, docker_conf, ssh, ssh_argv, wait_for


@pytest.fixture
def ddaemon(tmp_path, hostkeys, docker_engine):
    """A daemon pointed at the tests' Docker engine (its containerd state too,
    once a container shows where it lives)."""
    made = []

    def make(cid=None):
        d = Daemon(str(tmp_path / f"d{len(made)}"), hostkeys, extra_conf=docker_conf(docker_engine, cid))
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.stop()


def log_text(path):
    with open(path) as f:
        return f.read()


def test_add_docker_logs_in_and_refuses_what_is_not_a_running_container(ddaemon, container, docker_engine, keys,
                                                                     tmp_path, hostkeys):
    k = keys("dk")
    name, cid = container()
    d = ddaemon()
    logf = str(tmp_path / "exec.log")
    r = d.add("exec-dk", "--docker", name, "--log-file", logf, key=k, check=False)
    assert r.returncode == 0, r.stderr
    r = ssh(k, d.port, "hostname; id -u")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [cid[:12], "0"], r.stdout
    listed = d.ctl("list", "--json", check=True).stdout
    assert f'"container":"{name}"' in listed.replace(" ", "") and cid in listed, listed
    # No such container; a stopped one; a name that is no name.
    r = d.add("exec-none", "--docker", "peon-no-such-container", key=k, check=False)
    assert r.returncode != 0 and "there is no container 'peon-no-such-container'" in r.stderr, r.stderr
    stopped, _ = container(cmd=("true",))
    wait_for(lambda: not docker_engine.inspect(stopped)["State"]["Running"], 20, what="the container to exit")
    r = d.add("exec-stopped", "--docker", stopped, key=k, check=False)
    assert r.returncode != 0 and f"the container {stopped} stopped (exited, exit code 0)" in r.stderr, r.stderr
    r = d.add("exec-bad", "--docker", "../x", key=k, check=False)
    assert r.returncode != 0 and "--docker needs a container name or id" in r.stderr, r.stderr
    # The engine cannot be reached: said so, nothing registered.
    os.makedirs(tmp_path / "nodocker")
    other = Daemon(str(tmp_path / "nodocker"), hostkeys, extra_conf=f'docker = {{ socket = "{tmp_path}/none.sock"; }};\n')
    other.start()
    try:
        r = other.add("exec-x", "--docker", name, key=k, check=False)
        assert r.returncode != 0 and f"cannot reach the Docker engine at {tmp_path}/none.sock" in r.stderr, r.stderr
        assert "exec-x" not in other.ctl("list", check=True).stdout
    finally:
        other.stop()


def test_access_follows_docker_restart_and_ends_at_stop(ddaemon, container, docker_engine, keys, tmp_path):
    k = keys("rs")
    name, cid = container()
    d = ddaemon()
    logf = str(tmp_path / "exec.log")
    d.add("exec-rs", "--docker", name, "--log-file", logf, key=k)
    old = docker_engine.pid(name)
    # A live session of the old process ends with it.
    live = ssh_popen(k, d.port, "echo up; exec sleep 600")
    assert live.stdout.readline().strip() == b"up"
    docker_engine.docker("restart", "-t", "0", name)
    new = docker_engine.pid(name)
    assert new != old
    assert live.wait(timeout=20) is not None
    wait_for(lambda: f"new process {new}" in log_text(logf), 20, what="the restart line in the execution log")
    r = ssh(k, d.port, "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == cid[:12] and "sleep 100000" in r.stdout, r.stdout
    # Stop: access ends, and the execution log says why.
    docker_engine.docker("stop", "-t", "0", name)
    wait_for(lambda: "SSH debug access ended (the container" in log_text(logf), 30, what="the end line")
    assert f"the container {name} stopped (exited, exit code 137)" in log_text(logf), log_text(logf)
    assert "exec-rs" not in d.ctl("list", check=True).stdout
    # Its port had no other execution: it is closed (ports are on demand).
    r = ssh(k, d.port, "true")
    assert r.returncode == 255 and "Connection refused" in r.stderr, r.stderr


def test_access_ends_when_the_container_is_removed(ddaemon, container, docker_engine, keys, tmp_path):
    k = keys("rm")
    name, _ = container()
    d = ddaemon()
    logf = str(tmp_path / "exec.log")
    d.add("exec-rm", "--docker", name, "--log-file", logf, key=k)
    docker_engine.docker("rm", "-f", name)
    wait_for(lambda: "SSH debug access ended (the container" in log_text(logf), 30, what="the end line")
    assert f"the container {name} was removed" in log_text(logf), log_text(logf)
    # A new container under the same name is never followed.
    container_again = docker_engine.run(name)
    assert container_again
    r = ssh(k, d.port, "true")
    assert r.returncode == 255, r.stdout
    docker_engine.docker("rm", "-f", name)


def test_paused_container_answers_with_the_message(ddaemon, container, docker_engine, keys):
    k = keys("pz")
    name, _ = container()
    d = ddaemon()
    d.add("exec-pz", "--docker", name, key=k)
    docker_engine.docker("pause", name)
    try:
        r = ssh(k, d.port, "echo in", timeout=30)
        assert r.returncode != 0 and "in" not in r.stdout.split(), r.stdout
        assert f"the container {name} is paused: `docker unpause` it, then connect again" in r.stderr, r.stderr
    finally:
        docker_engine.docker("unpause", name)
    r = ssh(k, d.port, "echo in")
    assert r.returncode == 0 and r.stdout.split() == ["in"], r.stderr


def test_containerd_target_reaches_the_same_container(ddaemon, container, docker_engine, keys, tmp_path):
    k = keys("cd")
    name, cid = container()
    d = ddaemon(cid)
    logf = str(tmp_path / "exec.log")
    r = d.add("exec-cd", "--containerd", f"moby/{cid}", "--log-file", logf, key=k, check=False)
    assert r.returncode == 0, r.stderr
    r = ssh(k, d.port, "hostname; cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == cid[:12] and "sleep 100000" in r.stdout, r.stdout
    # Restarted by Docker: containerd has a new task of the same id.
    docker_engine.docker("restart", "-t", "0", name)
    new = docker_engine.pid(name)
    wait_for(lambda: f"new process {new}" in log_text(logf), 20, what="the restart line")
    assert ssh(k, d.port, "true").returncode == 0
    docker_engine.docker("stop", "-t", "0", name)
    wait_for(lambda: "SSH debug access ended (the container" in log_text(logf), 30, what="the end line")
    assert f"the container moby/{cid} is not running (containerd has no task for it)" in log_text(logf)
    # Bad references and tasks that do not exist, refused at add.
    r = d.add("exec-cd2", "--containerd", "moby", key=k, check=False)
    assert r.returncode != 0 and "--containerd needs NAMESPACE/ID" in r.stderr, r.stderr
    r = d.add("exec-cd3", "--containerd", "moby/" + "0" * 64, key=k, check=False)
    assert r.returncode != 0 and "is not running (containerd has no task for it)" in r.stderr, r.stderr


def test_restart_of_peon_sshd_finds_the_containers_new_process(ddaemon, container, docker_engine, keys, tmp_path):
    k = keys("rr")
    name, _ = container()
    d = ddaemon()
    logf = str(tmp_path / "exec.log")
    d.add("exec-rr", "--docker", name, "--log-file", logf, key=k)
    d.stop()
    docker_engine.docker("restart", "-t", "0", name)
    new = docker_engine.pid(name)
    d.start()
    wait_for(lambda: f"new process {new}" in log_text(logf), 20, what="the restart line")
    assert ssh(k, d.port, "true").returncode == 0


def ssh_popen(key, port, cmd):
    return subprocess.Popen(ssh_argv(key, port, cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)


# The same probe through `docker exec` and through peon-sshd: what a user
# sees of the job must be the same, line by line.
PROBE = r"""
echo "hostname $(hostname)"
echo "root $(ls / | tr '\n' ' ')"
for p in /proc/[0-9]*; do n=${p#/proc/}; [ "$n" -lt $$ ] && echo "proc $n $(cat $p/comm)"; done | sort -n -k2
echo "id $(id)"
echo "cwd $(pwd)"
grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status | sed 's/^/status /'
sed 's/^/cgroup /' /proc/self/cgroup
echo "pids.max $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"
echo "memory $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
echo "nofile $(ulimit -n)"
[ -e /dev/tty ] && echo "tty exists"
echo "dev $(ls /dev | tr '\n' ' ')"
unshare -U -r true 2>/dev/null; echo "unshare rc $?"
syscall-probe
"""


def test_side_by_side_with_docker_exec(ddaemon, container, docker_engine, keys):
    k = keys("sbs")
    name, cid = container("--user", "1000:1000", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                          "--pids-limit", "77", "--memory", "96m", "--ulimit", "nofile=512:512")
    d = ddaemon(cid)
    d.add("exec-sbs", "--docker", name, key=k)
    want = docker_engine.docker("exec", name, "sh", "-c", PROBE).stdout
    r = ssh(k, d.port, PROBE)
    assert r.returncode == 0, r.stderr
    got = r.stdout
    assert "unshare rc 1" in want and "pids.max 77" in want and "nofile 512" in want, want
    # runc's stub: newer than the profile is ENOSYS, an old syscall it leaves out EPERM.
    assert "syscall cachestat ENOSYS\nsyscall 1000 ENOSYS\nsyscall syslog EPERM" in want, want
    assert got.splitlines() == want.splitlines(), "docker exec:\n" + want + "\npeon-sshd:\n" + got


def test_the_spec_decides_the_sandbox_the_live_process_env_and_cwd(ddaemon, container, docker_engine, keys):
    """The container's process lowered its own limit and moved to /tmp after
    it started: the shell gets the spec's limit (as docker exec does) and
    the live process's directory and environment."""
    k = keys("spec")
    name, cid = container("--ulimit", "nofile=512:512", "-e", "FROM_SPEC=1",
                          cmd=("sh", "-c", "ulimit -n 100; cd /tmp; export LIVE_ONLY=2; exec sleep 100000"))
    d = ddaemon(cid)
    d.add("exec-spec", "--docker", name, key=k)
    registered = [line for line in d.log().splitlines() if "registered:" in line]
    # The filters come from the spec, not from a copy at add.
    assert registered and "0 seccomp filters" in registered[0], d.log()
    live = docker_engine.pid(name)
    with open(f"/proc/{live}/limits") as f:
        assert any(line.startswith("Max open files") and " 100 " in line for line in f)
    want = docker_engine.docker("exec", name, "sh", "-c", "ulimit -n").stdout.split()
    r = ssh(k, d.port, "ulimit -n; pwd; echo FROM_SPEC=$FROM_SPEC LIVE_ONLY=$LIVE_ONLY; grep ^Seccomp: /proc/self/status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert want == ["512"] and lines[0] == "512", (want, r.stdout)
    assert lines[1] == "/tmp", r.stdout
    assert lines[2] == "FROM_SPEC=1 LIVE_ONLY=2", r.stdout
    assert lines[3] == "Seccomp:\t2", r.stdout


def test_a_hung_engine_holds_up_neither_the_daemon_nor_logins(tmp_path, hostkeys, keys, job):
    """An engine that accepts and never answers: `add --docker` waits for it
    (at most 3 s) in a child, while other control requests and logins are
    served at once; the add then fails with one sentence, registering nothing."""
    sock_path = str(tmp_path / "hung.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(sock_path)
    srv.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    d = Daemon(str(tmp_path / "d"), hostkeys, extra_conf=f'docker = {{ socket = "{sock_path}"; }};\n').start()
    try:
        k = keys("hung")
        d.add("exec-live", "--pid", str(job(hostname="live-job")), key=k)
        argv = [CTL, "-S", d.sock, "add", "exec-hung", "--docker", "c1", "--key-file", k.pub]
        pending = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: held, 5, what="the add's request to reach the engine")
        start = time.monotonic()
        assert "exec-live" in d.ctl("list", check=True).stdout
        r = ssh(k, d.port, "hostname")
        took = time.monotonic() - start
        assert r.returncode == 0 and r.stdout.strip() == "live-job", r.stderr
        assert pending.poll() is None, "the add did not wait for the engine"
        assert took < 2.0, f"list and a login took {took:.2f} s while the engine hung"
        _, err = pending.communicate(timeout=20)
        assert pending.returncode != 0, err
        assert f"the Docker engine at {sock_path} did not answer within 3 s" in err, err
        assert "exec-hung" not in d.ctl("list", check=True).stdout
    finally:
        stop.set()
        d.stop()
        for c in held:
            c.close()
        srv.close()
