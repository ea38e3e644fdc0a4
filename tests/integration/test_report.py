"""What the execution's log receives, and where the address comes from.
Every HTTP server here (log URL, metadata services) runs on 127.0.0.1."""
import http.server
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import Daemon, free_port, ssh, ssh_argv, wait_for

SSH_PREFIX = "::ssh::"


def parse_status(line):
    """The way `vh exec ssh` reads it: the prefix, then json.loads."""
    assert line.startswith(SSH_PREFIX)
    return json.loads(line[len(SSH_PREFIX):])


class Recorder(http.server.BaseHTTPRequestHandler):
    posts = None

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.posts.append((self.headers.get("Authorization"), json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


def serve(handler, port=0):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_log_file_receives_the_three_lines(daemon, job, keys, tmp_path):
    k = keys("k")
    log = tmp_path / "execution.log"
    log.write_text("earlier output of the job\n")
    daemon.add("exec-log", "--pid", str(job()), "--log-file", str(log), key=k)
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier output of the job"          # appended, never truncated
    assert lines[1] == (f"SSH debug access ready. Connect with: ssh -i <path-to-private-key> -p {daemon.port} "
                        "-t 127.0.0.1 /bin/bash")
    assert lines[2].startswith("SSH host key: ssh-ed25519 SHA256:")
    assert parse_status(lines[3]) == {"address": "127.0.0.1", "port": daemon.port}
    assert oct(os.stat(log).st_mode & 0o777) == "0o640" or log.exists()


def test_new_log_file_mode(daemon, job, keys, tmp_path):
    log = tmp_path / "new.log"
    daemon.add("exec-mode", "--pid", str(job()), "--log-file", str(log), key=keys("k"))
    assert os.stat(log).st_mode & 0o777 == 0o640


def test_fingerprint_and_known_hosts_line(daemon, job, keys, tmp_path):
    k = keys("k")
    log = tmp_path / "execution.log"
    daemon.add("exec-kh", "--pid", str(job(hostname="kh-job")), "--log-file", str(log), key=k)
    hostkey_line = [l for l in log.read_text().splitlines() if l.startswith("SSH host key:")][0]
    fp = hostkey_line.split()[4]
    scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(daemon.port), "127.0.0.1"],
                          capture_output=True, text=True).stdout
    keygen = subprocess.run(["ssh-keygen", "-lf", "-"], input=scan, capture_output=True, text=True).stdout
    assert keygen.split()[1] == fp
    known = hostkey_line.split("(known_hosts line: ")[1].rstrip(")")
    kh = tmp_path / "known_hosts"
    kh.write_text(known + "\n")
    argv = ssh_argv(k, daemon.port, "hostname", opts=["StrictHostKeyChecking=yes", f"UserKnownHostsFile={kh}"])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "kh-job\n"


@pytest.mark.parametrize("algos,ktype,scan", [("rsa-sha2-512,rsa-sha2-256", "ssh-rsa", "rsa"),
                                               ("ssh-ed25519", "ssh-ed25519", "ed25519")])
def test_logged_host_key_is_one_the_server_offers(tmp_path, hostkeys, job, keys, algos, ktype, scan):
    """The known_hosts line in the log names a key the server offers under
    the configured algorithms.host_keys, so pasting it works."""
    d = Daemon(str(tmp_path), hostkeys, f'algorithms = {{ host_keys = "{algos}"; }};\n').start()
    try:
        k = keys("k")
        log = tmp_path / "execution.log"
        d.add("exec-hk", "--pid", str(job(hostname="hk-job")), "--log-file", str(log), key=k)
        line = [l for l in log.read_text().splitlines() if l.startswith("SSH host key:")][0]
        assert line.startswith(f"SSH host key: {ktype} SHA256:"), line
        offered = subprocess.run(["ssh-keyscan", "-p", str(d.port), "127.0.0.1"],
                                 capture_output=True, text=True).stdout.split()
        assert offered[1::3] == [ktype], offered
        kh = tmp_path / "known_hosts"
        kh.write_text(line.split("(known_hosts line: ")[1].rstrip(")") + "\n")
        argv = ssh_argv(k, d.port, "hostname", opts=["StrictHostKeyChecking=yes", f"UserKnownHostsFile={kh}"])
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "hk-job\n"
    finally:
        d.stop()


def test_session_and_end_lines(daemon, job, keys, tmp_path):
    k = keys("sess")
    log = tmp_path / "execution.log"
    daemon.add("exec-s", "--pid", str(job()), "--log-file", str(log), key=k)
    assert ssh(k, daemon.port, "true", user="someone").returncode == 0
    wait_for(lambda: "SSH session closed" in log.read_text(), what="close line")
    daemon.ctl("remove", "exec-s", check=True)
    text = log.read_text()
    assert "SSH session opened: key SHA256:" in text and "(sess@test) from 127.0.0.1:" in text
    assert " as someone (runs as root, uid 0 in the job)." in text
    assert text.splitlines()[-1] == "SSH debug access ended (removed)."


def test_log_url_receives_lines_with_token(tmp_path, hostkeys, job, keys):
    posts = []
    handler = type("H", (Recorder,), {"posts": posts})
    srv = serve(handler)
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    d = Daemon(str(tmp_path), hostkeys, f'report = {{ token_file = "{token}"; }};\n').start()
    try:
        k = keys("k")
        url = f"http://127.0.0.1:{srv.server_address[1]}/executions/log"
        d.add("exec-url", "--pid", str(job()), "--log-url", url, key=k)
        wait_for(lambda: len(posts) >= 3, what="three POSTs")
        assert all(auth == "Bearer s3cret-token" for auth, _ in posts)
        assert all(body["execution"] == "exec-url" for _, body in posts)
        msgs = [body["message"] for _, body in posts]
        assert msgs[0].startswith("SSH debug access ready. Connect with: ssh -i <path-to-private-key>")
        assert msgs[1].startswith("SSH host key: ssh-ed25519 SHA256:")
        assert parse_status(msgs[2]) == {"address": "127.0.0.1", "port": d.port}
        ssh(k, d.port, "true")
        wait_for(lambda: any("SSH session closed" in b["message"] for _, b in posts), what="session lines")
    finally:
        d.stop()
        srv.shutdown()


def test_dead_log_url_never_affects_ssh_and_is_retried(tmp_path, hostkeys, job, keys):
    port = free_port()
    d = Daemon(str(tmp_path), hostkeys, "report = { retry_for = 120; };\n").start()
    posts = []
    srv = None
    try:
        k = keys("k")
        t0 = time.monotonic()
        d.add("exec-dead", "--pid", str(job(hostname="alive")), "--log-url", f"http://127.0.0.1:{port}/log", key=k)
        assert time.monotonic() - t0 < 2
        assert ssh(k, d.port, "hostname").stdout == "alive\n"
        wait_for(lambda: "retrying" in d.log(), what="retry logged")
        # The log service comes back: the spooled lines arrive, in order.
        srv = serve(type("H", (Recorder,), {"posts": posts}), port)
        wait_for(lambda: len(posts) >= 3, timeout=40, what="delivery after retry")
        assert posts[0][1]["message"].startswith("SSH debug access ready.")
    finally:
        d.stop()
        if srv:
            srv.shutdown()


def test_bad_report_inputs(daemon, job, keys, tmp_path):
    k = keys("k")
    pid = str(job())
    r = daemon.add("exec-b", "--pid", pid, "--log-file", "relative.log", key=k, check=False)
    assert "--log-file relative.log: must be an absolute path" in r.stderr
    r = daemon.add("exec-b", "--pid", pid, "--log-url", "ftp://x/log", key=k, check=False)
    assert "--log-url ftp://x/log: must be an http:// or https:// URL" in r.stderr
    r = daemon.add("exec-b", "--pid", pid, "--log-file", str(tmp_path / "no" / "dir.log"), key=k, check=False)
    assert "cannot append to --log-file" in r.stderr
    assert "exec-b" not in daemon.ctl("list").stdout


# ---- address discovery: fake metadata services on 127.0.0.1 ----

class AWS(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self._send(200, "TOKEN-123")
        else:
            self._send(400, "")

    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != "TOKEN-123":
            self._send(401, "")     # IMDSv2 only: no token, no answer
        elif self.path == "/latest/meta-data/public-ipv4":
            self._send(200, "198.51.100.11")
        else:
            self._send(404, "")

    def _send(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *a):
        pass


class GCP(AWS):
    def do_GET(self):
        ok = (self.headers.get("Metadata-Flavor") == "Google" and
              self.path == "/computeMetadata/v1/instance/network-interfaces/0/access-configs/0/external-ip")
        self._send(200 if ok else 403, "198.51.100.22" if ok else "")


class Azure(AWS):
    def do_GET(self):
        ok = (self.headers.get("Metadata") == "true" and
              self.path.startswith("/metadata/instance/network/interface/0/ipv4/ipAddress/0/publicIpAddress?") and
              "api-version=" in self.path)
        self._send(200 if ok else 400, "198.51.100.33\n" if ok else "")


@pytest.mark.parametrize("provider,handler,want", [
    ("aws", AWS, "198.51.100.11"), ("gcp", GCP, "198.51.100.22"), ("azure", Azure, "198.51.100.33")])
def test_metadata_address(tmp_path, hostkeys, job, keys, provider, handler, want):
    srv = serve(handler)
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    conf = f'report = {{ providers = ["{provider}"]; {provider}_url = "{base}"; }};\n'
    d = Daemon(str(tmp_path), hostkeys, conf, advertise=False).start()
    try:
        st = json.loads(d.ctl("status", "--json", check=True).stdout)
        assert st["address"] == want and st["address_source"] == f"{provider} metadata"
        log = tmp_path / "x.log"
        r = d.add("exec-md", "--pid", str(job()), "--log-file", str(log), key=keys("k"))
        assert f"-t {want} /bin/bash" in r.stdout
        assert parse_status(log.read_text().splitlines()[2]) == {"address": want, "port": d.port}
    finally:
        d.stop()
        srv.shutdown()


def test_hanging_metadata_does_not_stall_add(tmp_path, hostkeys, job, keys):
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(8)                      # accepts, never answers
    base = f"http://127.0.0.1:{hang.getsockname()[1]}"
    conf = (f'report = {{ providers = ["aws", "gcp"]; aws_url = "{base}"; gcp_url = "{base}"; '
            'metadata_timeout_ms = 500; };\n')
    t0 = time.monotonic()
    d = Daemon(str(tmp_path), hostkeys, conf, advertise=False).start()
    started = time.monotonic() - t0
    try:
        assert started < 4, started       # two providers x 0.5 s, then the fallback
        st = json.loads(d.ctl("status", "--json", check=True).stdout)
        assert st["address_source"].startswith("default route") or st["address_source"] == "hostname"
        pid, k = job(), keys("k")           # not timed: only the add is
        t0 = time.monotonic()
        d.add("exec-h", "--pid", str(pid), key=k)
        assert time.monotonic() - t0 < 1.0
        assert "no answer from the aws metadata service" in d.log()
    finally:
        d.stop()
        hang.close()


def test_no_metadata_by_default(tmp_path, hostkeys):
    d = Daemon(str(tmp_path), hostkeys, advertise=False).start()
    try:
        st = json.loads(d.ctl("status", "--json", check=True).stdout)
        assert "metadata" not in st["address_source"]
        assert "metadata service" not in d.log()
    finally:
        d.stop()


def test_pasted_connect_line_gets_in_with_host_key_checking(daemon, job, keys, tmp_path):
    """The user's path: copy the connect line from the log, fill in the key,
    trust the logged known_hosts line, and land in the job's bash."""
    import pty
    import select
    k = keys("user")
    log = tmp_path / "execution.log"
    daemon.add("exec-paste", "--pid", str(job(hostname="pasted-job")), "--log-file", str(log), key=k)
    lines = log.read_text().splitlines()
    command = lines[0].split("Connect with: ", 1)[1].replace("<path-to-private-key>", k.path)
    (tmp_path / "known_hosts").write_text(lines[1].split("(known_hosts line: ")[1].rstrip(")") + "\n")
    argv = command.split()
    argv[1:1] = ["-F", "/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={tmp_path}/known_hosts",
                 "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    out = b""
    try:
        os.write(fd, b"echo \"in $(hostname) with bash $BASH_VERSION\"; exit\r")
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if select.select([fd], [], [], 1)[0]:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert b"in pasted-job with bash " in out, out
    assert os.waitstatus_to_exitcode(status) == 0


def test_session_line_and_sessions_name_who_the_shell_runs_as(daemon, job, keys, tmp_path):
    """The login name is whatever the client sent; the session line and
    `sessions` also say who the shell is in the job."""
    k = keys("who")
    log = tmp_path / "execution.log"
    pid = job(uid=1000, gid=1000)
    daemon.add("exec-who", "--pid", str(pid), "--log-file", str(log), key=k)
    p = subprocess.Popen(ssh_argv(k, daemon.port, "sleep 30", user="anyname"), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: "SSH session opened" in log.read_text(), what="the session line")
        line = [l for l in log.read_text().splitlines() if l.startswith("SSH session opened")][0]
        assert line.endswith(" as anyname (runs as job, uid 1000 in the job)."), line
        [s] = wait_for(lambda: daemon.sessions("exec-who"), what="the session record")
        assert (s["user"], s["runs_as"], s["runs_as_uid"]) == ("anyname", "job", 1000), s
        text = daemon.ctl("sessions", "exec-who", check=True).stdout
        assert "RUNS AS (UID)" in text.splitlines()[0] and "job (1000)" in text.splitlines()[1], text
        # --user names another user of the job: that one.
        daemon.ctl("remove", "exec-who", check=True)
        daemon.add("exec-who2", "--pid", str(pid), "--user", "root", "--log-file", str(log), key=k)
        assert ssh(k, daemon.port, "true", user="x").returncode == 0
        assert " as x (runs as root, uid 0 in the job)." in log.read_text()
    finally:
        p.kill()
        p.wait()
