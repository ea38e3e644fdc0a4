"""When access ends, and what survives restarts and reloads."""
import json
import os
import signal
import socket
import subprocess
import time

from conftest import Daemon, ssh, ssh_argv, wait_for


def background(key, port, cmd, **kw):
    return subprocess.Popen(ssh_argv(key, port, cmd, **kw), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def started_session(key, port, rest="sleep 60"):
    """A session that printed 'started' and then runs `rest`."""
    p = background(key, port, f"echo started; {rest}")
    assert p.stdout.readline() == "started\n"
    return p


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_remove_closes_sessions_and_releases_port(daemon, job, keys):
    k = keys("k")
    pid = job()
    daemon.add("exec-r", "--pid", str(pid), key=k)
    p = started_session(k, daemon.port, "sleep 60; echo never")
    wait_for(lambda: len(daemon.sessions("exec-r")) == 1, what="session recorded")
    s = daemon.sessions("exec-r")[0]
    assert s["key_fingerprint"].startswith("SHA256:") and s["key_comment"] == "k@test"
    t0 = time.monotonic()
    daemon.ctl("remove", "exec-r", check=True)
    out, _ = p.communicate(timeout=15)
    assert time.monotonic() - t0 < 5
    assert "never" not in out
    assert p.returncode != 0
    assert daemon.sessions() == []
    assert not port_open(daemon.port)
    assert ssh(k, daemon.port, "true").returncode == 255
    # The job's sleep of that session got its hangup: nothing left in the job.
    r = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True)
    assert "sleep 60" not in r.stdout
    assert "access ended (removed); closing 1 session" in daemon.log()


def test_port_kept_while_other_executions_use_it(daemon, job, keys):
    k1, k2 = keys("k1"), keys("k2")
    daemon.add("exec-1", "--pid", str(job()), key=k1)
    daemon.add("exec-2", "--pid", str(job(hostname="two")), key=k2)
    daemon.ctl("remove", "exec-1", check=True)
    assert ssh(k2, daemon.port, "hostname").stdout == "two\n"


def test_session_survives_daemon_restart(daemon, job, keys):
    k = keys("k")
    daemon.add("exec-keep", "--pid", str(job(hostname="kept")), key=k)
    p = started_session(k, daemon.port, "sleep 3; echo still-alive; hostname")
    daemon.restart()
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out == "still-alive\nkept\n"
    # The registry came back: new connections work, and remove still reaches
    # sessions that the previous daemon process started.
    assert ssh(k, daemon.port, "hostname").stdout == "kept\n"
    p = started_session(k, daemon.port)
    daemon.restart()
    wait_for(lambda: len(daemon.sessions("exec-keep")) == 1, what="session listed after restart")
    daemon.ctl("remove", "exec-keep", check=True)
    p.wait(timeout=15)
    assert p.returncode != 0


def test_job_end_ends_access(daemon, job, keys):
    k = keys("k")
    pid = job()
    daemon.add("exec-end", "--pid", str(pid), key=k)
    p = started_session(k, daemon.port)
    os.kill(pid, signal.SIGKILL)
    p.wait(timeout=15)
    wait_for(lambda: "exec-end" not in daemon.ctl("list").stdout, what="execution dropped")
    assert "access ended (the job ended)" in daemon.log()
    assert ssh(k, daemon.port, "true").returncode == 255


def test_job_ended_while_daemon_down(daemon, job, keys):
    k = keys("k")
    pid = job()
    daemon.add("exec-gone", "--pid", str(pid), key=k)
    daemon.stop()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    daemon.start()
    assert "exec-gone" not in daemon.ctl("list").stdout
    assert "the job ended while peon-sshd was stopped" in daemon.log()


def test_pid_reuse_is_not_trusted(daemon, job, keys, tmp_path):
    """A registry entry whose pid now belongs to another process is dropped."""
    k = keys("k")
    pid = job()
    daemon.add("exec-reuse", "--pid", str(pid), key=k)
    daemon.stop()
    reg = os.path.join(daemon.run, "executions", "exec-reuse.json")
    data = json.load(open(reg))
    data["target"]["starttime"] += 1                      # as if pid was reused
    json.dump(data, open(reg, "w"))
    daemon.start()
    assert "exec-reuse" not in daemon.ctl("list").stdout


def test_ttl_expires(daemon, job, keys):
    k = keys("k")
    daemon.add("exec-ttl", "--pid", str(job()), "--ttl", "2s", key=k)
    assert ssh(k, daemon.port, "true").returncode == 0
    wait_for(lambda: "exec-ttl" not in daemon.ctl("list").stdout, timeout=10, what="expiry")
    assert "access ended (expired)" in daemon.log()


def test_reload_keeps_sessions_and_refuses_bad_config(daemon, job, keys):
    k = keys("k")
    daemon.add("exec-hup", "--pid", str(job()), key=k)
    p = started_session(k, daemon.port, "sleep 2; echo done")
    daemon.write_conf("limits = {\n")          # broken
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload refused" in daemon.log(), what="refused reload")
    assert daemon.proc.poll() is None
    daemon.write_conf('accept_env = ["LANG", "MY_*"];\n')
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in daemon.log(), what="reload")
    assert p.communicate(timeout=15)[0] == "done\n"
    r = ssh(k, daemon.port, 'echo "$MY_VAR"', opts=["SetEnv=MY_VAR=yes"])
    assert r.stdout == "yes\n"


def test_sd_notify(tmp_path, hostkeys):
    sock_path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(10)
    d = Daemon(str(tmp_path), hostkeys)
    d.start(env={**os.environ, "NOTIFY_SOCKET": sock_path})
    try:
        msgs = [s.recv(4096).decode()]
        msgs.append(s.recv(4096).decode())
        assert any("READY=1" in m for m in msgs)
        assert any("STATUS=0 executions, 0 sessions, 0 ports" in m for m in msgs)
        d.proc.send_signal(signal.SIGHUP)
        assert "RELOADING=1" in s.recv(4096).decode()
        d.stop()
        s.settimeout(1)
        rest = []
        try:
            while True:
                rest.append(s.recv(4096).decode())
        except socket.timeout:
            pass
        assert any("STOPPING=1" in m for m in rest)
    finally:
        d.stop()
        s.close()
