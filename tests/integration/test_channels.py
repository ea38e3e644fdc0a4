"""Channel bookkeeping (issue 7, item 5): forward channels have their own
bound, closed channels are freed at once, a slow forward target holds up
nobody, names resolve inside the job, refusals are logged (issue 10: with
the reason)."""
import os
import socket
import subprocess
import threading
import time

import paramiko
import pytest

from conftest import Daemon, paramiko_client, ssh, wait_for


def echo_server(daemon, key, port):
    """An echo server inside the job: each connection runs cat."""
    r = ssh(key, daemon.port, f"nc -ll -p {port} -e cat </dev/null >/dev/null 2>&1 & "
            f"for i in $(seq 50); do netstat -ltn | grep -q :{port} && exit 0; sleep 0.1; done; exit 1")
    assert r.returncode == 0, "echo server did not start in the job"


def live(daemon, job, keys, name, **jobopts):
    k = keys("chan")
    daemon.add(name, "--pid", str(job(**jobopts)), key=k)
    return k


def test_forwards_do_not_count_against_max_sessions(daemon, job, keys):
    """A browser behind ssh -D opens dozens of connections at once."""
    k = live(daemon, job, keys, "exec-many")
    echo_server(daemon, k, 7007)
    c = paramiko_client(daemon, k)
    try:
        t = c.get_transport()
        chans = [t.open_channel("direct-tcpip", ("127.0.0.1", 7007), ("127.0.0.1", 40000 + i), timeout=10)
                 for i in range(40)]
        for i, ch in enumerate(chans):
            ch.sendall(b"ping %d\n" % i)
        for i, ch in enumerate(chans):
            ch.settimeout(10)
            assert ch.recv(100) == b"ping %d\n" % i
        # Session channels still have their own room.
        s = t.open_session(timeout=10)
        s.exec_command("echo still-room")
        assert s.makefile().read() == b"still-room\n"
        for ch in chans:
            ch.close()
    finally:
        c.close()


def test_open_close_loop_without_waiting(daemon, job, keys):
    """The client closes each channel at once and opens the next: closed
    channels must never pile up against the limit."""
    k = live(daemon, job, keys, "exec-churn")
    echo_server(daemon, k, 7008)
    c = paramiko_client(daemon, k)
    try:
        t = c.get_transport()
        for i in range(300):
            ch = t.open_session(timeout=10)
            ch.exec_command("sleep 30")
            ch.close()
            f = t.open_channel("direct-tcpip", ("127.0.0.1", 7008), ("127.0.0.1", 1), timeout=10)
            f.close()
        s = t.open_session(timeout=10)
        s.exec_command("echo alive")
        assert s.makefile().read() == b"alive\n"
    finally:
        c.close()
    assert "administratively prohibited" not in daemon.log()
    assert "limit of" not in daemon.log()


def test_blackholed_forward_does_not_freeze_the_connection(daemon, job, keys):
    """A connect that never answers (a SYN sent out of a veth whose peer is
    down, both inside the job's own network namespace, is lost) must not
    hold up other channels of the connection."""
    k = keys("chan")
    pid = job()
    daemon.add("exec-slow", "--pid", str(pid), key=k)
    netns = ["nsenter", f"--net=/proc/{pid}/ns/net"]
    for cmd in (["ip", "link", "add", "sink0", "type", "veth", "peer", "name", "sink1"],
                ["ip", "addr", "add", "192.0.2.1/24", "dev", "sink0"], ["ip", "link", "set", "sink0", "up"]):
        subprocess.run(netns + cmd, check=True)
    c = paramiko_client(daemon, k)
    try:
        t = c.get_transport()
        sh = t.open_session(timeout=10)
        sh.exec_command("cat")
        result = {}

        def slow_open():
            t0 = time.monotonic()
            try:
                t.open_channel("direct-tcpip", ("192.0.2.2", 80), ("127.0.0.1", 1), timeout=30)
                result["opened"] = True
            except Exception as e:   # refused after the connect deadline
                result["error"] = str(e)
            result["took"] = time.monotonic() - t0

        th = threading.Thread(target=slow_open)
        th.start()
        time.sleep(0.5)
        worst = 0.0
        for i in range(20):             # keystrokes through another channel meanwhile
            t0 = time.monotonic()
            sh.sendall(b"x%d\n" % i)
            got = b""
            while not got.endswith(b"\n"):
                got += sh.recv(100)
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.1)
        assert worst < 1.0, f"echo took {worst:.2f}s while a forward was connecting"
        th.join(40)
        # The connect really was slow (the neighbour never answers: ~3 s).
        assert "opened" not in result and result["took"] >= 2, (result, daemon.log()[-3000:])
    finally:
        c.close()


def test_forward_resolves_names_with_the_jobs_hosts_file(daemon, job, keys):
    k = live(daemon, job, keys, "exec-names")
    r = ssh(k, daemon.port, "echo '127.0.0.1 only-the-job-knows' >> /etc/hosts")
    assert r.returncode == 0, r.stderr
    echo_server(daemon, k, 7009)
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("only-the-job-knows", 80)    # the host does not know it
    c = paramiko_client(daemon, k)
    try:
        ch = c.get_transport().open_channel("direct-tcpip", ("only-the-job-knows", 7009), ("127.0.0.1", 1),
                                            timeout=10)
        ch.sendall(b"by name\n")
        ch.settimeout(10)
        assert ch.recv(100) == b"by name\n"
    finally:
        c.close()


def test_switched_off_and_unsupported_requests_are_refused_and_logged(tmp_path, hostkeys, job, keys):
    """forwarding.* off on the worker: -R, -A and -X are refused with the
    reason; unix-socket forwarding (which libssh 0.10.6 cannot serve) is
    refused and logged whatever the configuration."""
    d = Daemon(str(tmp_path), hostkeys, "forwarding = { remote = false; agent = false; x11 = false; };\n").start()
    try:
        k = live(d, job, keys, "exec-refuse")
        base = ["ssh", "-F", "/dev/null", "-i", k.path, "-p", str(d.port), "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        r = subprocess.run(base + ["-o", "ExitOnForwardFailure=yes", "-R", "12345:127.0.0.1:1", "root@127.0.0.1",
                                   "true"], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "forwarding failed" in r.stderr
        wait_for(lambda: 'refused tcpip-forward for "localhost" port 12345: remote port forwarding is turned off '
                 "on this worker (forwarding.remote)" in d.log(), what="tcpip-forward logged")
        # ssh -A (with a real agent: OpenSSH asks only when one answers) and
        # ssh -X: the job sees neither, the log says why.
        sock = str(tmp_path / "agent")
        agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
        wait_for(lambda: os.path.exists(sock), what="ssh-agent")
        r = subprocess.run(base + ["-o", "ForwardX11=yes", "-A", "root@127.0.0.1",
                                   'echo "agent=$SSH_AUTH_SOCK display=$DISPLAY"'],
                           capture_output=True, text=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin", "DISPLAY": ":99", "SSH_AUTH_SOCK": sock})
        agent.kill()
        agent.wait()
        assert r.returncode == 0, r.stderr
        assert r.stdout == "agent= display=\n"
        wait_for(lambda: "refused agent forwarding: agent forwarding is turned off on this worker "
                 "(forwarding.agent)" in d.log(), what="agent request logged")
        wait_for(lambda: "refused X11 forwarding: X11 forwarding is turned off on this worker "
                 "(forwarding.x11)" in d.log(), what="x11 request logged")
        c = paramiko_client(d, k)
        try:
            # A channel type libssh does not know (ssh -W to a unix socket path).
            with pytest.raises(paramiko.ChannelException):
                c.get_transport().open_channel("direct-streamlocal@openssh.com", ("/tmp/sock", 0), ("", 0),
                                               timeout=10)
            # ssh -R /path/in/job:... sends streamlocal-forward@openssh.com.
            assert c.get_transport().global_request("streamlocal-forward@openssh.com", wait=True) is None
        finally:
            c.close()
        wait_for(lambda: "such as direct-streamlocal@openssh.com (ssh -L/-W to a unix socket: not supported, "
                 "forward a TCP port instead)" in d.log(), what="unknown type logged")
        wait_for(lambda: "refused streamlocal-forward@openssh.com (ssh -R with a unix socket path): libssh 0.10.6 "
                 "cannot serve it; forward a TCP port instead" in d.log(), what="streamlocal-forward logged")
    finally:
        d.stop()


def test_max_forwards_bounds_forward_channels(tmp_path, hostkeys, job, keys):
    d = Daemon(str(tmp_path), hostkeys, "limits = { max_forwards = 3; max_sessions = 2; };\n").start()
    try:
        k = live(d, job, keys, "exec-bound")
        echo_server(d, k, 7010)
        c = paramiko_client(d, k)
        try:
            t = c.get_transport()
            held = [t.open_channel("direct-tcpip", ("127.0.0.1", 7010), ("127.0.0.1", 1), timeout=10)
                    for _ in range(3)]
            with pytest.raises(paramiko.ChannelException):
                t.open_channel("direct-tcpip", ("127.0.0.1", 7010), ("127.0.0.1", 1), timeout=10)
            # Forwards and sessions are counted apart.
            s = t.open_session(timeout=10)
            s.exec_command("echo session-ok")
            assert s.makefile().read() == b"session-ok\n"
            held[0].close()
            wait_for(lambda: _opens(t), what="a forward slot to free up")
        finally:
            c.close()
        d.wait_log("refused forward channel: limit of 3 per connection reached (limits.max_forwards)")
    finally:
        d.stop()


def _opens(t):
    try:
        t.open_channel("direct-tcpip", ("127.0.0.1", 7010), ("127.0.0.1", 1), timeout=10).close()
        return True
    except paramiko.ChannelException:
        return False
