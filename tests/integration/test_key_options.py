"""authorized_keys options on execution keys (OpenSSH's semantics)."""
import os
import subprocess

from conftest import free_port, ssh, ssh_argv, wait_for


def add_with_options(daemon, job, keys, name, options, hostroot=False, check=True):
    k = keys(name)
    path = k.pub + ".opts"
    with open(k.pub) as f, open(path, "w") as out:
        out.write(options + " " + f.read())
    r = daemon.ctl("add", name, "--pid", str(job(hostroot=True) if hostroot else job()), "--key-file", path)
    if check:
        assert r.returncode == 0, r.stderr
    return k, r


def test_forced_command_sees_the_original_one(daemon, job, keys):
    k, _ = add_with_options(daemon, job, keys, "exec-cmd", 'command="echo forced:$SSH_ORIGINAL_COMMAND"')
    r = ssh(k, daemon.port, "hello there")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "forced:hello there\n"
    assert "started the key's forced command: echo forced:" in daemon.log()


def test_from_and_expiry_refuse_the_key(daemon, job, keys):
    k, _ = add_with_options(daemon, job, keys, "exec-from", 'from="10.0.0.0/8,!127.0.0.2"')
    r = ssh(k, daemon.port, "true")
    assert r.returncode == 255 and "Permission denied" in r.stderr
    wait_for(lambda: "refused from 127.0.0.1: the key's from= option does not allow this address" in daemon.log(),
             what="from= refusal logged")
    k2, _ = add_with_options(daemon, job, keys, "exec-expired", 'expiry-time="20200101"')
    r = ssh(k2, daemon.port, "true")
    assert r.returncode == 255
    wait_for(lambda: "the key's expiry-time has passed" in daemon.log(), what="expiry logged")
    k3, _ = add_with_options(daemon, job, keys, "exec-from-ok", 'from="127.0.0.0/8",expiry-time="29991231"')
    assert ssh(k3, daemon.port, "echo in").stdout == "in\n"


def test_restrict_turns_everything_off_and_pty_turns_it_back(daemon, job, keys, tmp_path):
    k, _ = add_with_options(daemon, job, keys, "exec-restrict", "restrict,pty")
    r = ssh(k, daemon.port, "tty", tty=True)
    assert r.stdout.startswith("/dev/pts/"), r.stdout
    r = subprocess.run(ssh_argv(k, daemon.port, opts=["ExitOnForwardFailure=yes"])[:-1] +
                       ["-W", "127.0.0.1:1", "root@127.0.0.1"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    r = subprocess.run(ssh_argv(k, daemon.port, opts=["ExitOnForwardFailure=yes"])[:-1] +
                       ["-R", "12347:127.0.0.1:1", "root@127.0.0.1", "true"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and "forwarding failed" in r.stderr
    wait_for(lambda: "not allowed for this key (no-port-forwarding or restrict)" in daemon.log(), what="log")
    k2, _ = add_with_options(daemon, job, keys, "exec-nopty", "no-pty")
    r = ssh(k2, daemon.port, "tty", tty=True)
    assert "PTY allocation request failed" in r.stderr
    assert ssh(k2, daemon.port, "tty").stdout == "not a tty\n"     # commands still run, without one
    wait_for(lambda: "refused pty-req: a pty is not allowed for this key (no-pty or restrict)" in daemon.log(),
             what="no-pty logged")


def test_permitopen_and_permitlisten(daemon, job, keys):
    inner, other, lport = free_port(), free_port(), free_port()
    k, _ = add_with_options(daemon, job, keys, "exec-permit",
                            f'permitopen="127.0.0.1:{inner}",permitlisten="localhost:{lport}"', hostroot=True)
    srv = ("python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
           "s.bind((\"127.0.0.1\", int(sys.argv[1]))); s.listen(); c,_=s.accept(); c.sendall(b\"ok\\n\")' ")
    p = subprocess.Popen(ssh_argv(k, daemon.port, srv + str(inner)), stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: ssh(k, daemon.port, f"ss -ltn | grep -q :{inner} && echo up").stdout == "up\n",
                 what="server in the job")
        r = subprocess.run(ssh_argv(k, daemon.port)[:-1] + ["-W", f"127.0.0.1:{inner}", "root@127.0.0.1"],
                           capture_output=True, text=True, timeout=30, input="")
        assert r.stdout == "ok\n", r.stderr
        r = subprocess.run(ssh_argv(k, daemon.port)[:-1] + ["-W", f"127.0.0.1:{other}", "root@127.0.0.1"],
                           capture_output=True, text=True, timeout=30, input="")
        assert r.returncode != 0
        wait_for(lambda: f"127.0.0.1 port {other} is not in this key's permitopen" in daemon.log(), what="log")
    finally:
        p.kill()
        p.wait()
    ok = subprocess.run(ssh_argv(k, daemon.port, opts=["ExitOnForwardFailure=yes"])[:-1] +
                        ["-R", f"{lport}:127.0.0.1:1", "root@127.0.0.1", "true"], capture_output=True, text=True,
                        timeout=30)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(ssh_argv(k, daemon.port, opts=["ExitOnForwardFailure=yes"])[:-1] +
                         ["-R", f"{lport + 1}:127.0.0.1:1", "root@127.0.0.1", "true"], capture_output=True,
                         text=True, timeout=30)
    assert bad.returncode != 0 and "forwarding failed" in bad.stderr
    wait_for(lambda: "is not in this key's permitlisten" in daemon.log(), what="permitlisten logged")


def test_unknown_options_are_refused_by_name(daemon, job, keys):
    _, r = add_with_options(daemon, job, keys, "exec-unknown", 'tunnel="0"', check=False)
    assert r.returncode != 0
    assert '"tunnel"' in r.stderr, r.stderr
    assert "exec-unknown" not in daemon.ctl("list").stdout
