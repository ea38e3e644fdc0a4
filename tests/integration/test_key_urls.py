"""Key URLs the daemon keeps fresh (--key-url): fetched by peon-sshd's own
unprivileged fetcher, at add (which answers only once the keys are in), every
key_urls.refresh, when a key nobody holds is offered, and on `refresh ID`. A
failed or oversized fetch keeps the last good keys and says so. Every HTTP
server here listens on 127.0.0.1; the only other address used (192.0.2.1,
TEST-NET-1) is refused before any connection."""
import http.server
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import CTL, Daemon, ctl_raw, ed25519_lines, ssh, ssh_argv, wait_for

DENIED = "Permission denied (publickey)"


class KeyServer:
    """Serves `body` with `status` at any path; counts requests."""

    def __init__(self):
        self.body, self.status, self.hits, self.length, self.delay = b"", 200, 0, True, 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                time.sleep(outer.delay)
                self.send_response(outer.status)
                if outer.length:
                    self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                try:
                    self.wfile.write(outer.body)
                except OSError:
                    pass

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/keys"

    def serve(self, *keys_or_lines):
        self.body = "".join((k if isinstance(k, str) else k.line()) + "\n" for k in keys_or_lines).encode()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def web():
    s = KeyServer()
    yield s
    s.stop()


def fingerprint(key):
    out = subprocess.run(["ssh-keygen", "-lf", key.pub], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def held(daemon, exec_id):
    return [k["fingerprint"] for k in json.loads(daemon.ctl("keys", exec_id, "--json", check=True).stdout)["keys"]]


def gets_in(key, port, user="root"):
    return ssh(key, port, "echo in", user=user).stdout == "in\n"


def denied(key, port):
    r = ssh(key, port, "echo in")
    return r.returncode == 255 and DENIED in r.stderr


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def daemon_with(tmp_path, hostkeys, conf):
    return Daemon(str(tmp_path), hostkeys, conf).start()


def test_add_with_key_url_then_login(daemon, job, keys, web, tmp_path):
    a, b = keys("a"), keys("b")
    web.serve(a)
    r = daemon.ctl("add", "exec-u", "--pid", str(job(hostname="url-job")), "--key-url", web.url, "--key", b.line())
    assert r.returncode == 0, r.stderr
    assert "is live on port" in r.stdout
    assert web.hits == 1
    assert ssh(a, daemon.port, "hostname").stdout == "url-job\n"
    assert ssh(b, daemon.port, "hostname").stdout == "url-job\n"
    listed = json.loads(daemon.ctl("list", "--json", check=True).stdout)["executions"][0]
    assert listed["key_urls"][0]["url"] == web.url and listed["key_urls"][0]["keys"] == 1
    by_fp = {k["fingerprint"]: k for k in listed["keys"]}
    assert by_fp[fingerprint(a)]["url"] == web.url and "url" not in by_fp[fingerprint(b)]
    out = daemon.ctl("keys", "exec-u", check=True).stdout
    assert f"{fingerprint(a)}" in out and web.url in out
    # A key the URL serves is removed there, not here.
    r = daemon.ctl("keys", "exec-u", "--remove", fingerprint(a))
    assert r.returncode == 1
    assert r.stderr == (f"peon-sshctl: key {fingerprint(a)} comes from --key-url {web.url}: remove it there, "
                        "then run peon-sshctl refresh exec-u\n")


def test_add_answers_only_after_the_fetch_and_fails_whole(daemon, job, keys, web, tmp_path):
    a = keys("a")
    web.status = 404
    r = daemon.ctl("add", "exec-f", "--pid", str(job()), "--key-url", web.url)
    assert r.returncode == 1
    assert r.stderr == f"peon-sshctl: --key-url {web.url}: the server answered HTTP 404\n"
    web.status = 200
    web.serve(a, "ssh-ed25519 AAAA garbage")
    r = daemon.ctl("add", "exec-f", "--pid", str(job()), "--key-url", web.url)
    assert r.returncode == 1
    assert r.stderr == f"peon-sshctl: {web.url}:2: the base64 key data is not a valid ssh-ed25519 key\n"
    web.serve("# no keys here")
    r = daemon.ctl("add", "exec-f", "--pid", str(job()), "--key-url", web.url, "--key", a.line(), "--port", "1023")
    assert r.returncode == 1 and "--port 1023" in r.stderr
    assert json.loads(daemon.ctl("list", "--json", check=True).stdout)["executions"] == []
    assert not port_open(daemon.port)
    assert web.hits == 2           # a refused add fetched nothing


@pytest.mark.parametrize("url", ["http://192.0.2.1/keys", "ftp://127.0.0.1/keys", "file:///etc/ssh/keys",
                                 "http://127.0.0.1.example/keys", "keys.example/k"])
def test_only_https_or_loopback_http(daemon, job, url):
    t0 = time.monotonic()
    r = daemon.ctl("add", "exec-s", "--pid", str(job()), "--key-url", url)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1
    assert (f"--key-url {url}: only https URLs (or http on this machine's loopback) are accepted" in r.stderr or
            f"--key-url {url}: not a valid URL" in r.stderr), r.stderr
    assert time.monotonic() - t0 < 5      # refused before any connection
    assert "key fetcher started" not in daemon.log()


def test_unknown_key_triggers_a_refresh(tmp_path, hostkeys, job, keys, web):
    d = daemon_with(tmp_path, hostkeys, 'key_urls = { refresh = "1h"; min_age = 0; };\n')
    try:
        a, b = keys("a"), keys("b")
        log = tmp_path / "exec.log"
        web.serve(a)
        d.add("exec-k", "--pid", str(job()), "--key-url", web.url, "--log-file", str(log))
        web.serve(a, b)
        # The first attempt is refused and starts a refresh; a later one gets in.
        end, tries = time.monotonic() + 15, 0
        while time.monotonic() < end:
            tries += 1
            if gets_in(b, d.port):
                break
            time.sleep(0.3)
        else:
            pytest.fail("the new key never got in")
        assert tries >= 1 and web.hits >= 2
        assert (f"SSH keys refreshed from {web.url}: added {fingerprint(b)} (b@test); 2 keys now."
                in log.read_text().splitlines())
    finally:
        d.stop()


def test_min_age_bounds_unknown_key_refreshes(tmp_path, hostkeys, job, keys, web):
    d = daemon_with(tmp_path, hostkeys, 'key_urls = { refresh = "1h"; min_age = "1h"; };\n')
    try:
        a, b = keys("a"), keys("b")
        web.serve(a)
        d.add("exec-m", "--pid", str(job()), "--key-url", web.url)
        web.serve(a, b)
        for _ in range(3):
            assert denied(b, d.port)
        assert web.hits == 1         # fetched at add, less than min_age ago
        d.ctl("refresh", "exec-m", check=True)
        assert gets_in(b, d.port)
    finally:
        d.stop()


def test_periodic_refresh_adds_and_revokes(tmp_path, hostkeys, job, keys, web):
    d = daemon_with(tmp_path, hostkeys, 'key_urls = { refresh = "2s"; min_age = "1h"; };\n')
    try:
        a, b = keys("a"), keys("b")
        log = tmp_path / "exec.log"
        web.serve(a)
        d.add("exec-p", "--pid", str(job()), "--key-url", web.url, "--log-file", str(log))
        p = subprocess.Popen(ssh_argv(a, d.port, "echo started; sleep 60"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline() == "started\n"
        web.serve(b)
        wait_for(lambda: held(d, "exec-p") == [fingerprint(b)], timeout=10, what="periodic refresh")
        # a is no longer served: revoked, its live session ended; b gets in.
        p.wait(timeout=15)
        assert p.returncode != 0
        assert denied(a, d.port)
        assert gets_in(b, d.port)
        line = [l for l in log.read_text().splitlines() if l.startswith("SSH keys refreshed from")]
        assert line == [f"SSH keys refreshed from {web.url}: added {fingerprint(b)} (b@test); removed "
                        f"{fingerprint(a)} (a@test); 1 key now; 1 session of removed keys ended."]
    finally:
        d.stop()


def test_refresh_command_reports_before_and_after(daemon, job, keys, web):
    a, b = keys("a"), keys("b")
    web.serve(a)
    daemon.add("exec-r", "--pid", str(job()), "--key-url", web.url)
    web.serve(a, b)
    r = daemon.ctl("refresh", "exec-r")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "execution exec-r: keys refreshed: 1 before, 2 after (1 added, 0 removed)\n"
    web.serve(b)
    out = json.loads(daemon.ctl("refresh", "exec-r", "--json", check=True).stdout)
    assert out["keys_before"] == 2 and out["keys_after"] == 1
    assert out["added"] == [] and out["removed"] == [fingerprint(a)]
    assert [k["fingerprint"] for k in out["keys"]] == [fingerprint(b)]
    assert daemon.ctl("refresh", "nope").stderr == "peon-sshctl: no execution 'nope' is registered\n"
    daemon.add("exec-plain", "--host", "--user", "root", key=a)
    r = daemon.ctl("refresh", "exec-plain")
    assert r.returncode == 1 and r.stderr == "peon-sshctl: execution exec-plain has no --key-url to refresh\n"


def test_failed_fetch_keeps_the_last_good_keys(daemon, job, keys, web, tmp_path):
    a = keys("a")
    log = tmp_path / "exec.log"
    web.serve(a)
    daemon.add("exec-x", "--pid", str(job()), "--key-url", web.url, "--log-file", str(log))
    web.status = 500
    r = daemon.ctl("refresh", "exec-x")
    assert r.returncode == 1
    assert r.stderr == (f"peon-sshctl: --key-url {web.url}: the server answered HTTP 500; "
                        "the last good keys are kept (1 key)\n")
    assert gets_in(a, daemon.port)
    assert (f"SSH keys could not be refreshed: --key-url {web.url}: the server answered HTTP 500; "
            "the last good keys are kept (1 from this URL).") in log.read_text().splitlines()
    listed = json.loads(daemon.ctl("list", "--json", check=True).stdout)["executions"][0]
    assert listed["key_urls"][0]["error"] == f"--key-url {web.url}: the server answered HTTP 500"
    # The server goes away: the same, with curl's reason.
    web.stop()
    r = daemon.ctl("refresh", "exec-x")
    assert r.returncode == 1 and "the last good keys are kept (1 key)" in r.stderr
    assert "onnect" in r.stderr, r.stderr
    assert gets_in(a, daemon.port)
    fails = [l for l in log.read_text().splitlines() if l.startswith("SSH keys could not be refreshed")]
    assert len(fails) == 2
    # A redirect is not followed.
    web2 = KeyServer()
    try:
        web2.status = 302
        daemon.add("exec-y", "--host", "--user", "root", key=a)
        r = daemon.ctl("add", "exec-z", "--host", "--user", "root", "--key-url", web2.url)
        assert r.stderr == (f"peon-sshctl: --key-url {web2.url}: the server answered HTTP 302 "
                            "(a redirect; redirects are not followed)\n")
    finally:
        web2.stop()


@pytest.mark.parametrize("with_length", [True, False])
def test_oversized_answer_refused_whole(daemon, job, keys, web, with_length):
    a, b = keys("a"), keys("b")
    web.serve(a)
    daemon.add("exec-o", "--pid", str(job()), "--key-url", web.url)
    body = (b.line() + "\n").encode()
    web.body = body + b"#" * (1024 * 1024 + 1 - len(body) - 1) + b"\n"
    assert len(web.body) == 1024 * 1024 + 1
    web.length = with_length
    r = daemon.ctl("refresh", "exec-o")
    assert r.returncode == 1
    assert f"--key-url {web.url}: the response is larger than 1048576 bytes" in r.stderr
    assert held(daemon, "exec-o") == [fingerprint(a)]
    assert denied(b, daemon.port) and gets_in(a, daemon.port)
    # Exactly 1 MiB is fine.
    web.body = web.body[:-2] + b"\n"
    assert len(web.body) == 1024 * 1024
    daemon.ctl("refresh", "exec-o", check=True)
    assert held(daemon, "exec-o") == [fingerprint(b)]


def test_too_many_keys_refused_whole(tmp_path, hostkeys, job, keys, web):
    d = daemon_with(tmp_path, hostkeys, "limits = { max_keys = 1000; };\n")
    try:
        a = keys("a")
        web.serve(a)
        d.add("exec-n", "--pid", str(job()), "--key-url", web.url)
        lines = ed25519_lines(1001)
        web.serve(*lines)
        r = d.ctl("refresh", "exec-n")
        assert r.returncode == 1
        assert f"{web.url}: holds 1001 keys; at most 1000 are accepted; the last good keys are kept (1 key)" in r.stderr
        assert gets_in(a, d.port)
        web.serve(*lines[:1000])
        t0 = time.monotonic()
        r = d.ctl("refresh", "exec-n", check=True)
        assert "1 before, 1000 after" in r.stdout
        assert time.monotonic() - t0 < 5
        assert denied(a, d.port)
        # Past limits.max_keys with a key of its own: refused.
        r = d.ctl("keys", "exec-n", "--add", a.line())
        assert r.stderr == "peon-sshctl: too many keys: execution exec-n would hold 1001, limits.max_keys is 1000\n"
        web.serve(*lines[:999], a)
        r = d.ctl("refresh", "exec-n", check=True)
        assert gets_in(a, d.port)
    finally:
        d.stop()


def test_restart_serves_the_last_good_keys_and_keeps_refreshing(daemon, job, keys, web):
    a, b = keys("a"), keys("b")
    web.serve(a)
    daemon.add("exec-s", "--pid", str(job()), "--key-url", web.url)
    web.status = 500
    daemon.restart()
    assert gets_in(a, daemon.port)
    rec = json.load(open(os.path.join(daemon.run, "executions", "exec-s.json")))
    assert rec["version"] == 3 and rec["keys"] == [] and rec["key_urls"][0]["url"] == web.url
    web.status = 200
    web.serve(b)
    daemon.ctl("refresh", "exec-s", check=True)
    assert gets_in(b, daemon.port) and denied(a, daemon.port)


def test_key_url_with_no_key_yet(tmp_path, hostkeys, job, keys, web):
    d = daemon_with(tmp_path, hostkeys, 'key_urls = { refresh = "1h"; min_age = 0; };\n')
    try:
        a = keys("a")
        web.serve("# nothing yet")
        r = d.ctl("add", "exec-e", "--pid", str(job()), "--key-url", web.url)
        assert r.returncode == 0
        assert "warning: the key URLs hold no key yet" in r.stderr
        web.serve(a)
        wait_for(lambda: gets_in(a, d.port), timeout=15, what="the first key")
    finally:
        d.stop()


def test_key_url_requests_checked(daemon):
    base = {"cmd": "add", "id": "exec-raw", "target": {"type": "host"}, "user": "root"}
    r = ctl_raw(daemon, {**base, "key_urls": "https://x/k"})
    assert r["error"] == "key_urls must be a list of at most 16 URLs"
    r = ctl_raw(daemon, {**base, "key_urls": [7]})
    assert r["error"] == "key_urls must be a list of URLs"
    r = ctl_raw(daemon, {**base, "key_urls": [f"https://k.example/{i}" for i in range(17)]})
    assert r["error"] == "key_urls must be a list of at most 16 URLs"
    r = ctl_raw(daemon, {**base, "key_urls": ["https://" + "a" * 9000]})
    assert r["error"] == "--key-url is longer than 8192 bytes"
    r = ctl_raw(daemon, {**base})
    assert r["error"] == "at least one key is required (--key, --key-file or --key-url)"


def test_url_past_max_keys_refused_whole(tmp_path, hostkeys, job, keys, web):
    d = daemon_with(tmp_path, hostkeys, "limits = { max_keys = 2; };\n")
    try:
        a, b, c = keys("a"), keys("b"), keys("c")
        web.serve(a)
        d.add("exec-2", "--pid", str(job()), "--key-url", web.url, "--key", b.line())
        web.serve(a, c)
        r = d.ctl("refresh", "exec-2")
        assert r.stderr == (f"peon-sshctl: --key-url {web.url}: too many keys: execution exec-2 would hold 3, "
                            "limits.max_keys is 2; the last good keys are kept (2 keys)\n")
        assert gets_in(a, d.port) and denied(c, d.port)
    finally:
        d.stop()


def test_slow_url_blocks_neither_the_daemon_nor_logins(daemon, job, keys, web):
    """The fetch runs in the fetcher: while it waits on a slow server, the
    control socket answers and another execution's users log in."""
    a, b = keys("a"), keys("b")
    daemon.add("exec-other", "--pid", str(job()), key=b)
    web.serve(a)
    web.delay = 4
    t0 = time.monotonic()
    slow = subprocess.Popen([CTL, "-S", daemon.sock, "add", "exec-slow", "--pid",
                             str(job()), "--key-url", web.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for(lambda: web.hits == 1, what="the fetch started")
    t1 = time.monotonic()
    assert daemon.ctl("status").returncode == 0
    assert gets_in(b, daemon.port)
    assert time.monotonic() - t1 < 3
    # A second add of the same id while the first waits is refused.
    r = daemon.ctl("add", "exec-slow", "--host", "--user", "root", "--key", b.line())
    assert r.stderr == "peon-sshctl: execution exec-slow is being registered: its key URLs are being fetched\n"
    out, err = slow.communicate(timeout=30)
    assert slow.returncode == 0, err
    assert time.monotonic() - t0 >= 4       # answered only once the keys were in
    assert gets_in(a, daemon.port)


def test_add_whose_client_went_away_registers_nothing(daemon, job, keys, web):
    a = keys("a")
    web.serve(a)
    web.delay = 3
    other_port = daemon.port + 1 if daemon.port < 65535 else daemon.port - 1
    slow = subprocess.Popen([CTL, "-S", daemon.sock, "add", "exec-gone", "--pid",
                             str(job()), "--port", str(other_port), "--key-url", web.url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: web.hits == 1, what="the fetch started")
    assert port_open(other_port)            # held while the add waits
    slow.kill()
    slow.wait()
    wait_for(lambda: "add abandoned: peon-sshctl went away before the key URLs answered" in daemon.log(),
             timeout=15, what="abandoned add")
    assert json.loads(daemon.ctl("list", "--json", check=True).stdout)["executions"] == []
    assert not port_open(other_port)


def test_the_fetcher_is_unprivileged(daemon, job, keys, web):
    web.serve(keys("a"))
    daemon.add("exec-f", "--pid", str(job()), "--key-url", web.url)
    def status_of(pid):
        try:
            return dict(l.split(":", 1) for l in open(f"/proc/{pid}/status").read().splitlines() if ":" in l)
        except OSError:
            return {}
    found = [st for st in map(status_of, (p for p in os.listdir("/proc") if p.isdigit()))
             if st.get("Name", "").strip() == "peon-keyfetch" and int(st["PPid"]) == daemon.proc.pid]
    assert len(found) == 1
    status = found[0]
    uids = status["Uid"].split()
    assert len(set(uids)) == 1 and int(uids[0]) >= 2147418112      # a privsep uid of its own
    assert int(status["Gid"].split()[0]) == int(uids[0])
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap], 16) == 0, cap
    assert status["NoNewPrivs"].strip() == "1"


def test_url_key_options_are_honoured(daemon, job, keys, web):
    a = keys("a")
    web.serve(f'command="echo from-the-url" {a.line()}')
    daemon.add("exec-c", "--pid", str(job()), "--key-url", web.url)
    assert ssh(a, daemon.port, "echo asked").stdout == "from-the-url\n"


def test_one_fetch_serves_every_execution_naming_the_url(daemon, job, keys, web):
    a, b = keys("a"), keys("b")
    web.serve(a)
    daemon.add("exec-1", "--pid", str(job()), "--key-url", web.url)
    daemon.add("exec-2", "--pid", str(job()), "--key-url", web.url)
    web.serve(b)
    hits = web.hits
    daemon.ctl("refresh", "exec-1", check=True)
    assert web.hits == hits + 1
    assert held(daemon, "exec-1") == held(daemon, "exec-2") == [fingerprint(b)]
    assert gets_in(b, daemon.port, user="exec-2")


def test_https_certificates_are_verified(daemon, job, keys, tmp_path):
    """A server whose certificate no CA signed is refused, like any failure."""
    import ssl
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    web = KeyServer()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    web.srv.socket = ctx.wrap_socket(web.srv.socket, server_side=True)
    web.serve(keys("a"))
    try:
        url = web.url.replace("http://", "https://")
        r = daemon.ctl("add", "exec-t", "--pid", str(job()), "--key-url", url)
        assert r.returncode == 1
        assert r.stderr.startswith(f"peon-sshctl: --key-url {url}: SSL certificate problem"), r.stderr
    finally:
        web.stop()
