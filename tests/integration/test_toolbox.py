"""Images without a shell get busybox-static from a sealed memfd (spawn.c,
"the toolbox"): its shell and applets work with nothing of the host's in
the job, the job's own binaries still run by path, and the `toolbox`
subsystem offers the same in a job that has a shell."""
import os

from conftest import ROOT, chan_read_until, paramiko_client, ssh

SCRATCH_APP = os.path.join(ROOT, "build", "scratch-app")


def scratch_job(job, tmp_path):
    """A root of its own (the shared job root has busybox and bash)."""
    assert os.path.isfile(SCRATCH_APP), f"{SCRATCH_APP} is missing: `make` builds it from tests/helpers"
    return job(root=str(tmp_path / "scratch-root"), scratch=SCRATCH_APP)


def test_scratch_job_gets_a_busybox_shell(daemon, job, keys, tmp_path):
    k = keys("scratch")
    log = tmp_path / "execution.log"
    pid = scratch_job(job, tmp_path)
    daemon.add("exec-scratch", "--pid", str(pid), "--log-file", str(log), key=k)
    # No /bin/bash in the job: the connect line runs the login shell.
    first = log.read_text().splitlines()[0]
    assert first == (f"SSH debug access ready. Connect with: ssh -i <path-to-private-key> -p {daemon.port} "
                     "-t 127.0.0.1"), first
    r = ssh(k, daemon.port, "ls /; echo ===; ps; echo ===; ls -l /proc/self/exe; echo ===; /app")
    assert r.returncode == 0, r.stderr
    ls, ps, exe, app = r.stdout.split("===\n")
    assert set(ls.split()) >= {"app", "proc", "dev", "tmp"} and "bin" not in ls.split(), ls   # the job's root
    assert any(line.split()[0] == "1" and "/app serve" in line for line in ps.splitlines()[1:]), ps
    assert "memfd:busybox" in exe and "/bin/busybox" not in exe and "/usr/" not in exe, exe
    assert app == "hello from the job's own binary\n"
    # The interactive login shell, on a pty.
    c = paramiko_client(daemon, k)
    try:
        chan = c.invoke_shell()
        chan.send("echo shell=$0; exit\n")
        out = chan_read_until(chan, b"shell=-sh")
        assert "shell=-sh" in out, out
    finally:
        c.close()


def test_toolbox_subsystem_where_the_job_has_a_shell(daemon, job, keys):
    k = keys("tools")
    daemon.add("exec-tools", "--pid", str(job()), key=k)
    c = paramiko_client(daemon, k)
    try:
        chan = c.get_transport().open_session()
        chan.invoke_subsystem("toolbox")
        chan.send("readlink /proc/$$/exe; hostname; exit\n")
        out = chan_read_until(chan, b"\njob\n")
        assert out.splitlines()[0] == "/memfd:busybox (deleted)", out
        assert out.splitlines()[1] == "job", out      # inside the job
    finally:
        c.close()
