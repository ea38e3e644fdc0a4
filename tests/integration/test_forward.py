"""ssh -L: connections are made from inside the job's network namespace."""
import hashlib
import os
import socket
import subprocess
import time

from conftest import free_port, ssh, ssh_argv, wait_for


def tunnel(key, port, spec):
    p = subprocess.Popen(ssh_argv(key, port, opts=["ExitOnForwardFailure=yes"])[:-1] +
                         ["-N", "-L", spec, "root@127.0.0.1"], stderr=subprocess.PIPE, text=True)
    local = int(spec.split(":")[0])
    wait_for(lambda: _connectable(local) or p.poll() is not None, what="tunnel")
    return p


def fetch_through_tunnel(key, port, inner):
    """What curl gets from http://127.0.0.1:inner inside the job, over -L."""
    local = free_port()
    t = tunnel(key, port, f"{local}:127.0.0.1:{inner}")
    try:
        return subprocess.run(["curl", "-s", "-m", "10", f"http://127.0.0.1:{local}/"],
                              capture_output=True, text=True).stdout
    finally:
        t.terminate()
        try:
            t.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # Seen once in CI, never reproduced: say what the client was doing.
            state = _proc_state(t.pid)
            t.kill()
            _, err = t.communicate()
            raise AssertionError(f"ssh -L did not end 10 s after SIGTERM ({state}); its stderr: {err!r}") from None


def _proc_state(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            state = [line.strip() for line in f if line.startswith(("State:", "SigBlk:", "SigIgn:"))]
        with open(f"/proc/{pid}/wchan") as f:
            return ", ".join(state + [f"wchan: {f.read()}"])
    except OSError as e:
        return f"/proc/{pid}: {e}"


def _connectable(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def setup_job(daemon, job, keys, name):
    k = keys("fwd")
    daemon.add(name, "--pid", str(job()), key=k)
    return k


def test_forward_reaches_a_port_only_the_job_has(daemon, job, keys):
    k = setup_job(daemon, job, keys, "exec-fwd")
    inner = free_port()
    r = ssh(k, daemon.port, f"mkdir -p /tmp/www && echo from-the-job > /tmp/www/index.html && "
            f"httpd -p 127.0.0.1:{inner} -h /tmp/www")
    assert r.returncode == 0, r.stderr
    assert not _connectable(inner)                 # not on the host's network
    assert fetch_through_tunnel(k, daemon.port, inner) == "from-the-job\n"
    daemon.wait_log(f"forwarding to 127.0.0.1 port {inner}")


def test_forward_moves_data_intact_with_half_close(daemon, job, keys):
    k = setup_job(daemon, job, keys, "exec-fwd2")
    inner = free_port()
    # An echo server in the job: each connection runs cat.
    r = ssh(k, daemon.port, f"nc -ll -p {inner} -e cat </dev/null >/dev/null 2>&1 & "
            f"for i in $(seq 50); do netstat -ltn | grep -q :{inner} && exit 0; sleep 0.1; done; exit 1")
    assert r.returncode == 0, "echo server did not start in the job"
    local = free_port()
    t = tunnel(k, daemon.port, f"{local}:127.0.0.1:{inner}")
    try:
        blob = os.urandom(8 << 20)
        with socket.create_connection(("127.0.0.1", local), timeout=30) as s:
            got = bytearray()
            s.setblocking(False)
            sent = 0
            deadline = time.monotonic() + 60
            while len(got) < len(blob) and time.monotonic() < deadline:
                if sent < len(blob):
                    try:
                        sent += s.send(blob[sent:sent + 65536])
                    except BlockingIOError:
                        pass
                    if sent == len(blob):
                        s.shutdown(socket.SHUT_WR)     # half-close: echo must still come back
                try:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    got += chunk
                except BlockingIOError:
                    time.sleep(0.001)
        assert hashlib.sha256(got).hexdigest() == hashlib.sha256(blob).hexdigest()
    finally:
        t.terminate()


def test_forward_to_closed_port_is_refused(daemon, job, keys):
    k = setup_job(daemon, job, keys, "exec-fwd3")
    local = free_port()
    t = tunnel(k, daemon.port, f"{local}:127.0.0.1:9")
    try:
        with socket.create_connection(("127.0.0.1", local), timeout=10) as s:
            s.settimeout(10)
            assert s.recv(10) == b""                    # closed, nothing relayed
        wait_for(lambda: "refused forward to 127.0.0.1 port 9" in daemon.log(), what="refusal logged")
        assert "Connection refused" in daemon.log()
    finally:
        t.terminate()


def test_no_forwarding_before_authentication(daemon, job, keys):
    """paramiko opening direct-tcpip without authenticating is refused."""
    import paramiko
    setup_job(daemon, job, keys, "exec-fwd4")
    t = paramiko.Transport(("127.0.0.1", daemon.port))
    t.start_client(timeout=10)
    try:
        try:
            t.open_channel("direct-tcpip", ("127.0.0.1", 22), ("127.0.0.1", 1), timeout=5)
            opened = True
        except Exception:
            opened = False
        assert not opened
    finally:
        t.close()
