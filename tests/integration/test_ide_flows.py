"""The IDE flows of docs/user-guide.md, end to end with OpenSSH's client:
VS Code Remote-SSH (ssh -T -D PORT host bash, a script on stdin, HTTP to
its server through the SOCKS port) and PyCharm's debug server over -R."""
import os
import socket
import subprocess
import threading
import time

from conftest import Daemon, free_port, ssh, ssh_agent, ssh_argv, wait_for


def add_job(daemon, job, keys, name, *args):
    k = keys(name)
    daemon.add(name, "--pid", str(job(hostroot=True)), *args, key=k)
    return k


def test_vscode_remote_ssh_flow(daemon, job, keys, tmp_path):
    """What VS Code does: `ssh -T -D <port> host bash`, a script on stdin
    that starts its server inside the remote and prints where it listens,
    then HTTP to that server through the SOCKS port."""
    k = add_job(daemon, job, keys, "exec-vscode")
    socks, inner = free_port(), free_port()
    script = (f"mkdir -p /tmp/vscode && echo vscode-server-ok > /tmp/vscode/index.html\n"
              f"cd /tmp/vscode && (python3 -m http.server --bind 127.0.0.1 {inner} >/dev/null 2>&1 &)\n"
              f"for i in $(seq 100); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {inner}))' "
              f"2>/dev/null && break; sleep 0.1; done\n"
              f"echo listeningOn=={inner}==\n")
    p = subprocess.Popen(ssh_argv(k, daemon.port)[:-1] + ["-T", "-D", str(socks), "root@127.0.0.1", "bash"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        p.stdin.write(script)
        p.stdin.flush()
        line = p.stdout.readline()
        assert line.strip() == f"listeningOn=={inner}==", p.stderr.read() if p.poll() is not None else line
        r = subprocess.run(["curl", "-s", "-m", "20", "--socks5-hostname", f"127.0.0.1:{socks}",
                            f"http://127.0.0.1:{inner}/"], capture_output=True, text=True)
        assert r.stdout == "vscode-server-ok\n", r.stderr
    finally:
        p.stdin.close()
        p.terminate()
        p.wait(timeout=10)


def test_pycharm_debug_server_over_remote_forward(daemon, job, keys):
    """PyCharm's debug server listens on the developer's machine; the job's
    code connects to localhost:PORT inside the job (ssh -R PORT:localhost:PORT)
    and the two talk both ways, as pydevd does."""
    k = add_job(daemon, job, keys, "exec-pycharm")
    ide = socket.socket()
    ide.bind(("127.0.0.1", 0))
    ide.listen(1)
    ide_port = ide.getsockname()[1]
    inner = free_port()
    conversation = []

    def debug_server():
        ide.settimeout(60)
        c, _ = ide.accept()
        with c:
            f = c.makefile("rw")
            conversation.append(f.readline().strip())          # the debuggee says hello
            f.write("CMD_VERSION 1.0\n")
            f.flush()
            conversation.append(f.readline().strip())          # and answers the command

    t = threading.Thread(target=debug_server, daemon=True)
    t.start()
    fwd = subprocess.Popen(ssh_argv(k, daemon.port, opts=["ExitOnForwardFailure=yes"])[:-1] +
                           ["-N", "-R", f"{inner}:localhost:{ide_port}", "root@127.0.0.1"], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: f"listening in the job on port {inner}" in daemon.log() or fwd.poll() is not None,
                 what="-R for the debug server")
        debuggee = ("import socket; s = socket.create_connection(('localhost', %d)); f = s.makefile('rw'); "
                    "f.write('HELLO pid-in-job\\n'); f.flush(); cmd = f.readline().strip(); "
                    "f.write('ACK ' + cmd + '\\n'); f.flush(); print('debuggee got', cmd)" % inner)
        r = ssh(k, daemon.port, "python3", "-c", '"' + debuggee + '"', timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "debuggee got CMD_VERSION 1.0\n"
        t.join(10)
        assert conversation == ["HELLO pid-in-job", "ACK CMD_VERSION 1.0"]
    finally:
        fwd.terminate()
        fwd.wait(timeout=10)
        ide.close()


def test_idle_channels_and_unused_connections_are_closed_by_policy(tmp_path, hostkeys, job, keys):
    d = Daemon(str(tmp_path), hostkeys, 'limits = { channel_timeout = { session = "2s"; }; '
               'unused_connection_timeout = 2; };\n').start()
    try:
        k = keys("idle")
        d.add("exec-idle", "--pid", str(job()), key=k)
        # A shell that prints nothing and reads nothing for longer than 2 s.
        t0 = time.monotonic()
        r = ssh(k, d.port, "sleep 30", timeout=60)
        assert time.monotonic() - t0 < 20
        wait_for(lambda: "closing an idle session channel after 2 s (limits.channel_timeout)" in d.log(),
                 what="idle channel closed")
        # ssh -N opens no channel at all: the connection goes.
        t0 = time.monotonic()
        r = subprocess.run(ssh_argv(k, d.port)[:-1] + ["-N", "root@127.0.0.1"], capture_output=True, timeout=60)
        assert time.monotonic() - t0 < 20
        wait_for(lambda: "closing: no channel open for 2 s (limits.unused_connection_timeout)" in d.log(),
                 what="unused connection closed")
        # A busy channel is not idle.
        r = ssh(k, d.port, "for i in 1 2 3 4 5 6; do echo tick; sleep 1; done", timeout=60)
        assert r.stdout.count("tick") == 6
    finally:
        d.stop()


def test_git_push_over_the_forwarded_agent(daemon, job, keys, tmp_path):
    """git inside one job pushes over ssh with the user's own key, which
    never leaves the user's agent (the remote here is a second execution,
    reached through -R as a git host would be reached over the network)."""
    ka = add_job(daemon, job, keys, "exec-git")
    kb = add_job(daemon, job, keys, "exec-gitremote")
    assert ssh(kb, daemon.port, "git init -q --bare /tmp/repo.git").returncode == 0
    agent, sock = ssh_agent(tmp_path, kb)
    hop = free_port()
    git_ssh = (f"ssh -F /dev/null -p {hop} -o BatchMode=yes -o StrictHostKeyChecking=no "
               f"-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR")
    script = ("set -e; cd /tmp && git init -q work && cd work && echo hi > f && git add f && "
              "git -c user.name=u -c user.email=u@example.com commit -q -m one && "
              f"GIT_SSH_COMMAND='{git_ssh}' git push -q ssh://exec-gitremote@127.0.0.1/tmp/repo.git HEAD:main "
              "&& echo pushed")
    try:
        r = subprocess.run(ssh_argv(ka, daemon.port, opts=["ExitOnForwardFailure=yes"])[:-1] +
                           ["-A", "-R", f"{hop}:127.0.0.1:{daemon.port}", "root@127.0.0.1", script],
                           capture_output=True, text=True, timeout=90,
                           env={"PATH": "/usr/bin:/bin", "SSH_AUTH_SOCK": sock})
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.strip().endswith("pushed")
        r = ssh(kb, daemon.port, "git --git-dir=/tmp/repo.git log --format=%s main")
        assert r.stdout == "one\n"
    finally:
        agent.kill()
        agent.wait()


def test_proxyjump_through_a_bastion_with_per_hop_keys(daemon, job, keys, tmp_path):
    """Workers behind NAT: ProxyJump through a bastion (here an execution on
    the host, which forwards -W like any sshd), each hop with its own key."""
    kb, kw = keys("bastion"), keys("worker")
    daemon.add("bastion", "--host", "--user", "root", key=kb)
    daemon.add("exec-natted", "--pid", str(job()), key=kw)
    cfg = tmp_path / "ssh_config"
    common = ("  BatchMode yes\n  IdentitiesOnly yes\n  StrictHostKeyChecking no\n"
              "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
    cfg.write_text(f"Host bastion\n  HostName 127.0.0.1\n  Port {daemon.port}\n  User bastion\n"
                   f"  IdentityFile {kb.path}\n{common}"
                   f"Host job\n  HostName 127.0.0.1\n  Port {daemon.port}\n  User exec-natted\n"
                   f"  IdentityFile {kw.path}\n  ProxyJump bastion\n{common}")
    r = subprocess.run(["ssh", "-F", str(cfg), "job", "hostname"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "job\n"


def test_legacy_scp_protocol_needs_scp_in_the_image(daemon, job, keys, tmp_path):
    """OpenSSH before 9.0 (and scp -O) runs `scp -t` inside the job."""
    k = add_job(daemon, job, keys, "exec-scp")
    src = tmp_path / "f.txt"
    src.write_text("legacy\n")
    base = ["scp", "-O", "-F", "/dev/null", "-i", k.path, "-P", str(daemon.port), "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    r = subprocess.run(base + [str(src), "root@127.0.0.1:/tmp/f.txt"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ssh(k, daemon.port, "cat /tmp/f.txt").stdout == "legacy\n"
    # A busybox image has no scp: the legacy protocol fails with the shell's word.
    k2 = keys("exec-scp-busybox")
    daemon.add("exec-scp-busybox", "--pid", str(job()), key=k2)
    r = subprocess.run(base[:5] + [k2.path] + base[6:] + [str(src), "root@127.0.0.1:/tmp/f.txt"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "not found" in r.stderr
