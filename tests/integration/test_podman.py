"""Podman through its Docker-compatible socket (docker.c, target.c,
follow.c): `add --docker` with `docker.socket` pointed at a Podman service
of the tests' own reaches its containers with the very code used for
dockerd. Podman keeps its containers' bundles in its own storage, not in
containerd's state, so the live process decides the sandbox, as for --pid."""
import pytest

from conftest import Daemon, ssh, wait_for
from test_runtimes import PROBE, log_text, ssh_popen


@pytest.fixture
def pdaemon(tmp_path, hostkeys, podman_engine):
    made = []

    def make():
        d = Daemon(str(tmp_path / f"d{len(made)}"), hostkeys,
                   extra_conf=f'docker = {{ socket = "{podman_engine.sock}"; }};\n')
        made.append(d)
        return d.start()

    yield make
    for d in made:
        d.stop()


def test_podman_container_logs_in_and_refuses_a_stopped_one(pdaemon, podman_container, podman_engine, keys):
    k = keys("pm")
    name, cid = podman_container()
    d = pdaemon()
    d.add("exec-pm", "--docker", name, key=k)
    want = podman_engine.docker("exec", name, "hostname").stdout.strip()
    r = ssh(k, d.port, "hostname; cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.returncode == 0, r.stderr
    # busybox sh execs its last command: the container's pid 1 is the sleep.
    assert r.stdout.splitlines() == [want, "sleep 100000 "], r.stdout
    listed = d.ctl("list", "--json", check=True).stdout
    assert cid in listed, listed
    stopped, _ = podman_container(cmd=("true",))
    wait_for(lambda: not podman_engine.inspect(stopped)["State"]["Running"], 20, what="the container to exit")
    r = d.add("exec-stopped", "--docker", stopped, key=k, check=False)
    # Podman says "stopped" for a moment, then "exited".
    assert r.returncode != 0 and (f"the container {stopped} stopped (exited, exit code 0)" in r.stderr or
                                  f"the container {stopped} stopped (exit code 0)" in r.stderr), r.stderr
    r = d.add("exec-none", "--docker", "peon-no-such-container", key=k, check=False)
    assert r.returncode != 0 and "there is no container 'peon-no-such-container'" in r.stderr, r.stderr


def test_podman_restart_is_followed_and_stop_ends_access(pdaemon, podman_container, podman_engine, keys, tmp_path):
    k = keys("pr")
    name, cid = podman_container()
    d = pdaemon()
    logf = str(tmp_path / "exec.log")
    d.add("exec-pr", "--docker", name, "--log-file", logf, key=k)
    old = podman_engine.pid(name)
    live = ssh_popen(k, d.port, "echo up; exec sleep 600")
    assert live.stdout.readline().strip() == b"up"
    podman_engine.docker("restart", "-t", "0", name)
    new = podman_engine.pid(name)
    assert new != old
    assert live.wait(timeout=20) is not None
    wait_for(lambda: f"new process {new}" in log_text(logf), 20, what="the restart line in the execution log")
    r = ssh(k, d.port, "cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.returncode == 0 and "sleep 100000" in r.stdout, r.stderr
    podman_engine.docker("stop", "-t", "0", name)
    wait_for(lambda: "SSH debug access ended (the container" in log_text(logf), 30, what="the end line")
    assert f"the container {name} stopped" in log_text(logf), log_text(logf)
    assert "exec-pr" not in d.ctl("list", check=True).stdout


def test_side_by_side_with_podman_exec(pdaemon, podman_container, podman_engine, keys):
    k = keys("psbs")
    name, _ = podman_container("--user", "1000:1000", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                               "--pids-limit", "77", "--memory", "96m")
    d = pdaemon()
    d.add("exec-psbs", "--docker", name, key=k)
    want = podman_engine.docker("exec", name, "sh", "-c", PROBE).stdout
    r = ssh(k, d.port, PROBE)
    assert r.returncode == 0, r.stderr
    # Podman's own seccomp profile lets unshare(CLONE_NEWUSER) through: no
    # fixed answer for it, only the same one through both.
    assert "pids.max 77" in want and "nofile 1024" in want and "NoNewPrivs:\t1" in want, want
    got, want_lines = r.stdout.splitlines(), want.splitlines()
    # One known difference: podman 4.3's exec drops the supplementary group
    # the container's own process has (Groups: 1000 in its status); without
    # a bundle to read, peon-sshd gives the shell the live process's groups.
    i = [n for n, line in enumerate(want_lines) if line.startswith("id ")][0]
    assert want_lines[i] == "id uid=1000(u) gid=1000(u)", want
    assert got[i] == "id uid=1000(u) gid=1000(u) groups=1000(u)", r.stdout
    pid = podman_engine.pid(name)
    with open(f"/proc/{pid}/status") as f:
        assert [line.split()[1:] for line in f if line.startswith("Groups:")] == [["1000"]]
    del got[i], want_lines[i]
    assert got == want_lines, "podman exec:\n" + want + "\npeon-sshd:\n" + r.stdout
