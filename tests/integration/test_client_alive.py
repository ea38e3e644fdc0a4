"""limits.client_alive_interval / client_alive_count_max with OpenSSH's
ClientAlive semantics (issue 7, item 6): a client that answers stays, a
client that stops answering is closed after count_max intervals."""
import os
import signal
import subprocess
import time

from conftest import Daemon, ssh, ssh_argv, wait_for

CONF = "limits = { client_alive_interval = 1; client_alive_count_max = 2; };\n"


def test_answering_client_stays(tmp_path, hostkeys, job, keys):
    d = Daemon(str(tmp_path), hostkeys, CONF).start()
    try:
        k = keys("alive")
        d.add("exec-alive", "--pid", str(job()), key=k)
        t0 = time.monotonic()
        r = ssh(k, d.port, "sleep 5; echo still-here")
        assert r.returncode == 0 and r.stdout == "still-here\n", r.stderr
        assert time.monotonic() - t0 >= 5
        assert "did not answer" not in d.log()
    finally:
        d.stop()


def test_silent_client_is_closed(tmp_path, hostkeys, job, keys):
    d = Daemon(str(tmp_path), hostkeys, CONF).start()
    client = None
    try:
        k = keys("alive")
        d.add("exec-silent", "--pid", str(job()), key=k)
        client = subprocess.Popen(ssh_argv(k, d.port, "sleep 60"), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        wait_for(lambda: d.sessions("exec-silent"), what="session")
        os.kill(client.pid, signal.SIGSTOP)     # the client stops answering anything
        t0 = time.monotonic()
        wait_for(lambda: "the client did not answer 2 keepalives" in d.log(), timeout=15,
                 what="keepalive timeout")
        took = time.monotonic() - t0
        assert 1.5 <= took <= 8, took
        wait_for(lambda: not d.sessions("exec-silent"), what="session gone")
    finally:
        if client:
            os.kill(client.pid, signal.SIGCONT)
            client.kill()
            client.wait()
        d.stop()


def test_off_by_default(daemon, job, keys):
    k = keys("alive")
    daemon.add("exec-quiet", "--pid", str(job()), key=k)
    client = subprocess.Popen(ssh_argv(k, daemon.port, "sleep 60"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: daemon.sessions("exec-quiet"), what="session")
        os.kill(client.pid, signal.SIGSTOP)
        time.sleep(3)
        assert daemon.sessions("exec-quiet")
        assert "did not answer" not in daemon.log()
    finally:
        os.kill(client.pid, signal.SIGCONT)
        client.kill()
        client.wait()
