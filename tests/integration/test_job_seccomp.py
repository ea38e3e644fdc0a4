"""The job's seccomp filters in every process started in it (jobseccomp.c):
the shell, a command, the SFTP server; copied once at add, never from a
traced process; and a job whose filters were not copied gets no shell."""
import json
import os
import subprocess

import pytest

from conftest import ROOT, chan_read_until, free_port, paramiko_client, ssh, wait_for
from test_forward import fetch_through_tunnel
from test_privsep import comm, descendants

HELPER = os.path.join(ROOT, "build", "seccomp-job")


def seccomp_lines(text):
    return [line for line in text.splitlines() if line.startswith("Seccomp")]


def status_text(pid):
    with open(f"/proc/{pid}/status") as f:
        return f.read()


def filtered_job(job, **opts):
    assert os.path.isfile(HELPER), f"{HELPER} is missing: `make` builds it from tests/helpers/seccomp_job.c"
    pid = job(wrap=HELPER, **opts)
    want = seccomp_lines(status_text(pid))
    assert want and want[0] == "Seccomp:\t2", want
    return pid, want


def shell_output(client, command, timeout=20):
    """Run command in an interactive pty shell; its output up to a marker."""
    chan = client.invoke_shell()
    # The typed line is echoed by the pty: the marker must not be in it
    # literally, or the echo ends the read before the output arrives.
    chan.send(command + "; echo END-OF-''TEST\n")
    out = chan_read_until(chan, b"END-OF-TEST\r\n", timeout)
    chan.close()
    return out.replace("\r\n", "\n")


@pytest.mark.parametrize("nnp", [False, True], ids=["privileged-install", "no_new_privs"])
def test_shell_command_and_sftp_run_under_the_jobs_filters(daemon, job, keys, nnp):
    k = keys("sc")
    pid, want = filtered_job(job, nnp=True) if nnp else filtered_job(job)
    daemon.add("exec-sc", "--pid", str(pid), key=k)
    assert "1 seccomp filter" in daemon.log()
    # A command.
    r = ssh(k, daemon.port, "grep ^Seccomp /proc/self/status; unshare -U -r true; echo rc=$?")
    assert r.returncode == 0, r.stderr
    assert seccomp_lines(r.stdout) == want, r.stdout
    assert "rc=1" in r.stdout and "Operation not permitted" in r.stderr, (r.stdout, r.stderr)
    c = paramiko_client(daemon, k)
    try:
        # The login shell on a pty.
        out = shell_output(c, "grep ^Seccomp /proc/self/status; unshare -U -r true; echo rc=$?")
        assert seccomp_lines(out) == want, out
        assert "rc=1" in out, out
        # The SFTP server, seen from the host.
        sf = c.open_sftp()
        assert sf.normalize(".")
        sftp = wait_for(lambda: [p for p in descendants(daemon.proc.pid) if comm(p) == "peon-sftp"],
                        what="the SFTP process")
        assert seccomp_lines(status_text(sftp[0])) == want
        sf.close()
    finally:
        c.close()


def test_job_without_filters_is_unchanged(daemon, job, keys):
    k = keys("nf")
    daemon.add("exec-nf", "--pid", str(job()), key=k)
    r = ssh(k, daemon.port, "grep ^Seccomp: /proc/self/status")
    assert r.stdout.split() == ["Seccomp:", "0"], r.stdout


def test_traced_process_is_left_alone(daemon, job, keys):
    """A debugger attached to the job's process: the add fails with a
    sentence and the tracer keeps its tracee."""
    k = keys("tr")
    pid, _ = filtered_job(job)
    tracer = subprocess.Popen(["strace", "-q", "-p", str(pid), "-o", "/dev/null"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: "TracerPid:\t0" not in status_text(pid), what="strace to attach")
        r = daemon.ctl("add", "exec-tr", "--pid", str(pid), "--key-file", k.pub)
        assert r.returncode != 0
        assert f"process {pid} is being traced by process {tracer.pid}" in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1
        assert f"TracerPid:\t{tracer.pid}" in status_text(pid)
        assert tracer.poll() is None
    finally:
        tracer.terminate()
        tracer.wait(timeout=10)


def test_job_whose_filters_were_not_copied_gets_no_shell(daemon, job, keys):
    """Fail closed: a record without the filters (as written before they
    were copied) never gives a shell without them."""
    k = keys("old")
    pid, _ = filtered_job(job)
    daemon.add("exec-old", "--pid", str(pid), key=k)
    assert ssh(k, daemon.port, "true").returncode == 0
    daemon.stop()
    recs = os.path.join(daemon.run, "executions")
    [name] = [n for n in os.listdir(recs) if n.startswith("exec-old")]
    path = os.path.join(recs, name)
    with open(path) as f:
        rec = json.load(f)
    assert rec.pop("seccomp")
    with open(path, "w") as f:
        json.dump(rec, f)
    daemon.start()
    r = ssh(k, daemon.port, "echo in")
    assert "in" not in r.stdout.split()
    assert "the job runs under seccomp filters that were not copied when the execution was added" in r.stderr, \
        r.stderr


@pytest.mark.parametrize("nnp", [False, True], ids=["privileged-install", "no_new_privs"])
def test_forwarding_works_with_the_helper_under_the_filters(daemon, job, keys, nnp):
    """The direct-tcpip helper also takes the job's filters (before it
    connects); forwarding into a filtered job still works."""
    k = keys("fw")
    pid, _ = filtered_job(job, nnp=True) if nnp else filtered_job(job)
    daemon.add("exec-fw", "--pid", str(pid), key=k)
    inner = free_port()
    r = ssh(k, daemon.port, f"mkdir -p /tmp/www && echo filtered > /tmp/www/index.html && "
            f"httpd -p 127.0.0.1:{inner} -h /tmp/www")
    assert r.returncode == 0, r.stderr
    assert fetch_through_tunnel(k, daemon.port, inner) == "filtered\n"
