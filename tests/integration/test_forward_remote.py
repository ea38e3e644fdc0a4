"""ssh -R: listeners inside the job's network namespace, reaching the client's side."""
import hashlib
import os
import re
import select
import socket
import subprocess
import threading
import time

from conftest import free_port, ssh, ssh_agent, ssh_argv, wait_for

# A program run inside the job: connect to its own localhost:PORT, send
# 1 MiB, read 1 MiB back, print both checksums.
JOB_CLIENT = r'''
import hashlib, os, socket, sys
port = int(sys.argv[1])
out = os.urandom(1 << 20)
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(out)
s.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    b = s.recv(1 << 16)
    if not b:
        break
    got += b
print(hashlib.sha256(out).hexdigest(), hashlib.sha256(got).hexdigest(), len(got))
'''


class ClientSideServer:
    """On the client's side: takes 1 MiB, answers with its own 1 MiB."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sent = os.urandom(1 << 20)
        self.got = []
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        self.sock.settimeout(60)
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        with c:
            c.settimeout(30)
            w = threading.Thread(target=lambda: (c.sendall(self.sent), c.shutdown(socket.SHUT_WR)))
            w.start()
            data = bytearray()
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                data += b
            w.join(30)
            self.got.append(bytes(data))

    def close(self):
        self.sock.close()


def remote_forward(key, port, spec, *extra, user="root"):
    p = subprocess.Popen(ssh_argv(key, port, opts=["ExitOnForwardFailure=yes", *extra], user=user)[:-1] +
                         ["-N", "-R", spec, f"{user}@127.0.0.1"], stderr=subprocess.PIPE, text=True)
    return p


def in_job(key, port, script, *args, user="root"):
    return ssh(key, port, "python3", "-c", _q(script), *args, user=user, timeout=120)


def _q(s):
    return "'" + s.replace("'", "'\\''") + "'"


def add_job(daemon, job, keys, name, *args):
    k = keys(name)
    daemon.add(name, "--pid", str(job(hostroot=True)), *args, key=k)
    return k


def test_remote_forward_carries_a_mebibyte_each_way(daemon, job, keys):
    k = add_job(daemon, job, keys, "exec-r1")
    srv = ClientSideServer()
    inner = free_port()
    fwd = remote_forward(k, daemon.port, f"{inner}:127.0.0.1:{srv.port}")
    try:
        wait_for(lambda: f"listening in the job on port {inner}" in daemon.log() or fwd.poll() is not None,
                 what="remote forward")
        assert fwd.poll() is None, fwd.stderr.read()
        r = in_job(k, daemon.port, JOB_CLIENT, str(inner))
        assert r.returncode == 0, r.stderr
        sent_sum, got_sum, n = r.stdout.split()
        wait_for(lambda: srv.got, what="server side done")
        assert int(n) == 1 << 20
        assert got_sum == hashlib.sha256(srv.sent).hexdigest()       # client -> job intact
        assert sent_sum == hashlib.sha256(srv.got[0]).hexdigest()    # job -> client intact
        # Only inside the job: the host's own loopback has no such port.
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", inner)) != 0
    finally:
        fwd.terminate()
        fwd.wait(timeout=10)
        srv.close()


def test_remote_forward_port_zero_reports_the_port_it_got(daemon, job, keys):
    k = add_job(daemon, job, keys, "exec-r0")
    srv = ClientSideServer()
    fwd = remote_forward(k, daemon.port, f"0:127.0.0.1:{srv.port}", "LogLevel=INFO")
    try:
        line = ""
        deadline = time.monotonic() + 20
        while "Allocated port" not in line and time.monotonic() < deadline:
            line = fwd.stderr.readline()
        m = re.search(r"Allocated port (\d+) for remote forward", line)
        assert m, line
        r = in_job(k, daemon.port, JOB_CLIENT, m.group(1))
        assert r.returncode == 0, r.stderr
        wait_for(lambda: srv.got, what="server side done")
        assert r.stdout.split()[2] == str(1 << 20), r.stdout
        assert r.stdout.split()[1] == hashlib.sha256(srv.sent).hexdigest()
    finally:
        fwd.terminate()
        fwd.wait(timeout=10)
        srv.close()


def test_two_remote_forwards_with_port_zero_each_get_a_port(daemon, job, keys):
    """-R 0 twice on one address: both are served, on different ports (a
    port-0 request is not a duplicate of an earlier one)."""
    k = add_job(daemon, job, keys, "exec-r00")
    srv = ClientSideServer()
    fwd = subprocess.Popen(ssh_argv(k, daemon.port, opts=["ExitOnForwardFailure=yes", "LogLevel=INFO"])[:-1] +
                           ["-N", "-R", f"0:127.0.0.1:{srv.port}", "-R", f"0:localhost:{srv.port}",
                            "root@127.0.0.1"], stderr=subprocess.PIPE)
    try:
        # Raw reads of the pipe: select() on a buffered reader misses a
        # second line that the first readline() already pulled in.
        text, ports = b"", []
        deadline = time.monotonic() + 20
        while len(ports) < 2 and time.monotonic() < deadline:
            if not select.select([fwd.stderr], [], [], 1)[0]:
                continue
            chunk = os.read(fwd.stderr.fileno(), 4096)
            if not chunk:
                break
            text += chunk
            ports = re.findall(r"Allocated port (\d+) for remote forward", text.decode(errors="replace"))
        assert len(ports) == 2 and ports[0] != ports[1], (ports, fwd.poll(), text)
    finally:
        fwd.terminate()
        fwd.wait(timeout=10)
        srv.close()


def http_server(tmp_path, text):
    d = tmp_path / "www"
    d.mkdir(exist_ok=True)
    (d / "index.html").write_text(text)
    port = free_port()
    p = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", str(port)], cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, what="http server")
    return p, port


def test_remote_dynamic_forward_serves_socks_in_the_job(daemon, job, keys, tmp_path):
    k = add_job(daemon, job, keys, "exec-rd")
    web, wport = http_server(tmp_path, "on the client's side\n")
    socks = free_port()
    fwd = remote_forward(k, daemon.port, str(socks))
    try:
        wait_for(lambda: f"listening in the job on port {socks}" in daemon.log(), what="remote dynamic forward")
        r = ssh(k, daemon.port, f"curl -s -m 20 --socks5-hostname 127.0.0.1:{socks} http://127.0.0.1:{wport}/")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "on the client's side\n"
    finally:
        fwd.terminate()
        fwd.wait(timeout=10)
        web.terminate()
        web.wait()


def test_control_master_cancel_closes_the_listener(daemon, job, keys, tmp_path):
    k = add_job(daemon, job, keys, "exec-rc")
    web, wport = http_server(tmp_path, "cancel me\n")
    ctl = str(tmp_path / "cm")
    inner = free_port()
    base = ssh_argv(k, daemon.port, opts=[f"ControlPath={ctl}"])[:-1]
    master = subprocess.Popen(base + ["-M", "-N", "root@127.0.0.1"], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: os.path.exists(ctl), what="control master")
        fetch = f"curl -s -m 10 http://127.0.0.1:{inner}/"
        r = subprocess.run(base + ["-O", "forward", "-R", f"{inner}:127.0.0.1:{wport}", "root@127.0.0.1"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: f"listening in the job on port {inner}" in daemon.log(), what="forward")
        assert ssh(k, daemon.port, fetch).stdout == "cancel me\n"
        r = subprocess.run(base + ["-O", "cancel", "-R", f"{inner}:127.0.0.1:{wport}", "root@127.0.0.1"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        wait_for(lambda: f"cancelled the remote forward of port {inner}" in daemon.log(), what="cancel")
        r = ssh(k, daemon.port, fetch)
        assert r.returncode == 7 and r.stdout == ""         # curl: connection refused
        # Cancelled forwards free their slot: it can be asked again.
        r = subprocess.run(base + ["-O", "forward", "-R", f"{inner}:127.0.0.1:{wport}", "root@127.0.0.1"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
    finally:
        subprocess.run(base + ["-O", "exit", "root@127.0.0.1"], capture_output=True, timeout=30)
        master.wait(timeout=10)
        web.terminate()
        web.wait()


def test_agent_forwarding_lets_a_nested_ssh_reach_a_second_execution(daemon, job, keys, tmp_path):
    """ssh -A into one execution, then from inside its job ssh into a second
    execution with the forwarded agent (the job reaches the daemon through
    an -R forward: its network is its own)."""
    ka = add_job(daemon, job, keys, "exec-agent-a")
    kb = keys("exec-agent-b")
    daemon.add("exec-agent-b", "--pid", str(job()), key=kb)
    agent, sock = ssh_agent(tmp_path, kb)
    hop = free_port()
    nested = (f"ssh -F /dev/null -p {hop} -o BatchMode=yes -o StrictHostKeyChecking=no "
              f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR exec-agent-b@127.0.0.1 hostname")
    script = ('echo "sock=$SSH_AUTH_SOCK"; stat -c "%a %U" "$(dirname "$SSH_AUTH_SOCK")"; ssh-add -l; ' + nested)
    try:
        r = subprocess.run(ssh_argv(ka, daemon.port, opts=["ExitOnForwardFailure=yes"])[:-1] +
                           ["-A", "-R", f"{hop}:127.0.0.1:{daemon.port}", "root@127.0.0.1", script],
                           capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "SSH_AUTH_SOCK": sock})
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert re.fullmatch(r"sock=/tmp/ssh-\w{10}/agent\.\d+", lines[0]), lines
        assert lines[1] == "700 root"
        fp = subprocess.run(["ssh-keygen", "-lf", kb.pub], capture_output=True, text=True).stdout.split()[1]
        assert fp in lines[2]
        assert lines[3] == "job"                            # the second execution's hostname
        path = lines[0].split("=", 1)[1]
        # Removed with the connection (the job's /tmp is its own tmpfs).
        wait_for(lambda: ssh(ka, daemon.port, f"test -e {path} || test -e $(dirname {path}) || echo gone"
                             ).stdout == "gone\n", what="agent socket removed")
        assert "agent forwarding: " + path + " in the job" in daemon.log()
    finally:
        agent.kill()
        agent.wait()


def test_agent_socket_belongs_to_the_jobs_user_in_a_user_namespace(daemon, job, keys, tmp_path):
    k = keys("exec-agent-u")
    daemon.add("exec-agent-u", "--pid", str(job(userns=True, uid=1000, gid=1000)), key=k)
    agent, sock = ssh_agent(tmp_path, k)
    try:
        r = subprocess.run(ssh_argv(k, daemon.port)[:-1] + ["-A", "root@127.0.0.1",
                           'id -u; stat -c "%a %u" "$(dirname "$SSH_AUTH_SOCK")"; test -S "$SSH_AUTH_SOCK" && echo sock'],
                           capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "SSH_AUTH_SOCK": sock})
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["1000", "700 1000", "sock"]
    finally:
        agent.kill()
        agent.wait()


def test_x11_forwarding_reaches_the_clients_display(daemon, job, keys, tmp_path):
    k = add_job(daemon, job, keys, "exec-x11")
    disp = 77
    xvfb = subprocess.Popen(["Xvfb", f":{disp}", "-nolisten", "tcp", "-screen", "0", "640x480x24"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(f"/tmp/.X11-unix/X{disp}"), what="Xvfb")
        r = subprocess.run(ssh_argv(k, daemon.port, opts=["ForwardX11=yes", "ForwardX11Trusted=no"])[:-1] +
                           ["root@127.0.0.1", 'echo "$DISPLAY"; stat -c "%a %U" "$XAUTHORITY"; '
                            "xdpyinfo | grep -E '^name of display:|^ *dimensions:'"],
                           capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", "DISPLAY": f":{disp}", "HOME": str(tmp_path)})
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == "localhost:10.0"
        assert lines[1] == "600 root"
        assert re.match(r"name of display:\s+localhost:10\.0", lines[2]), lines
        assert "640x480 pixels" in lines[3]
    finally:
        xvfb.terminate()
        xvfb.wait()


def test_execution_switches_refuse_each_request(daemon, job, keys, tmp_path):
    k = add_job(daemon, job, keys, "exec-sw", "--no-remote-forwarding", "--no-agent-forwarding",
                "--no-x11-forwarding", "--no-local-forwarding")
    r = subprocess.run(ssh_argv(k, daemon.port, opts=["ExitOnForwardFailure=yes"])[:-1] +
                       ["-R", "12346:127.0.0.1:1", "root@127.0.0.1", "true"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and "forwarding failed" in r.stderr
    agent, sock = ssh_agent(tmp_path)
    try:
        r = subprocess.run(ssh_argv(k, daemon.port, opts=["ForwardX11=yes"])[:-1] +
                           ["-A", "root@127.0.0.1", 'echo "[$SSH_AUTH_SOCK][$DISPLAY]"'],
                           capture_output=True, text=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin", "SSH_AUTH_SOCK": sock, "DISPLAY": ":98"})
        assert r.stdout == "[][]\n", r.stderr
    finally:
        agent.kill()
        agent.wait()
    r = subprocess.run(ssh_argv(k, daemon.port, opts=["ExitOnForwardFailure=yes"])[:-1] +
                       ["-W", "127.0.0.1:1", "root@127.0.0.1"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    log = daemon.log()
    for what in ("remote port forwarding is turned off for this execution (add --no-remote-forwarding)",
                 "refused agent forwarding: agent forwarding is turned off for this execution "
                 "(add --no-agent-forwarding)",
                 "refused X11 forwarding: X11 forwarding is turned off for this execution (add --no-x11-forwarding)",
                 "port forwarding is turned off for this execution (add --no-port-forwarding)"):
        wait_for(lambda: what in daemon.log(), what=what)
    assert "no_forwarding" in daemon.ctl("list", "--json", check=True).stdout
