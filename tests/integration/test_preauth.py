"""Pre-auth hardening (issue 8): per-source limits, MaxStartups random early
drop, per-source penalties, and one log line for every way a connection can
end before authentication.

Other users are 127.0.0.1 (the harness's client address, exempt from
penalties in the harness config); attackers are other 127.x addresses, so a
penalty earned here is real. All traffic stays on loopback; every loop is
bounded in count and time; load generators run in their own process group
and are killed as a group."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import Daemon, ssh, wait_for

ATTACKER = "127.0.0.66"


def connect_from(src, port, timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def banner(s):
    """The server's first bytes, or b"" when it closed without a word."""
    try:
        return s.recv(256)
    except (ConnectionResetError, socket.timeout):
        return b""


def admitted(src, port):
    """Does a connection from src get the server's banner?"""
    s = connect_from(src, port)
    try:
        return banner(s).startswith(b"SSH-2.0-")
    finally:
        s.close()


ENDINGS = re.compile(r"timeout before authentication|closed before authentication|protocol error|crashed|"
                     r"too many authentication|was killed before authentication")


def endings_of(log, remote):
    """Lines telling how the connection from remote ("ip:port") ended."""
    return [line for line in log.splitlines() if remote in line and ENDINGS.search(line)]


def status(d):
    return json.loads(d.ctl("status", "--json", check=True).stdout)


def ssh_from(src, key, port, *cmd, **kw):
    opts = [f"BindAddress={src}", *kw.pop("opts", ())]
    return ssh(key, port, *cmd, opts=opts, **kw)


def fail_until_refused(d, src, key, most):
    """Failed logins from src until the daemon refuses it; how many it took."""
    for i in range(1, most + 1):
        assert ssh_from(src, key, d.port, "true").returncode == 255
        wait_for(lambda: d.log().count(f"penalised {src} for") == i, what=f"penalty {i}")
        if f"refusing {src}" in d.log():
            return i
    raise AssertionError(f"{src} not refused after {most} failed logins")


def leave_until_refused(d, src, most=80, seconds=30):
    """Connect from src and leave without a word until the daemon refuses
    it for a penalty (a drop by the per-source cap, while the last few
    are still being reaped, does not count)."""
    end = time.monotonic() + seconds
    for _ in range(most):
        assert time.monotonic() < end, f"{src} not penalised in {seconds} s"
        s = connect_from(src, d.port)
        got = banner(s)
        s.close()
        if not got and status(d)["penalised_sources"] >= 1:
            assert f"refusing {src}" in d.log()
            return
        time.sleep(0.03)
    raise AssertionError(f"{src} not penalised after {most} connections")


@pytest.fixture
def mkdaemon(tmp_path, hostkeys):
    made = []

    def make(extra):
        base = tmp_path / f"d{len(made)}"
        base.mkdir()
        d = Daemon(str(base), hostkeys, extra)
        made.append(d)
        return d.start()
    yield make
    for d in made:
        d.stop()


@pytest.fixture
def host_exec():
    def add(d, keys, name="exec-pre"):
        k = keys("user")
        d.add(name, "--host", "--user", "root", key=k)
        return k
    return add


# ---- per-source limits ----

def test_silent_connections_from_one_address_do_not_lock_out_others(daemon, keys, host_exec):
    """Before: one global cap; 120 silent connections from one address
    refused everybody else until they timed out."""
    k = host_exec(daemon, keys)
    held = []
    try:
        for _ in range(120):
            held.append(connect_from(ATTACKER, daemon.port))
        time.sleep(0.5)
        got = sum(1 for s in held if banner(s).startswith(b"SSH-2.0-"))
        # dropbear's cap: 5 unauthenticated connections per source.
        assert got == 5, got
        assert status(daemon)["unauthenticated"] == 5
        r = ssh(k, daemon.port, "echo in")
        assert r.returncode == 0 and r.stdout == "in\n", r.stderr
        assert admitted("127.0.0.67", daemon.port)
    finally:
        for s in held:
            s.close()
    log = daemon.log()
    assert f"dropped connection from {ATTACKER}:" in log
    assert "(per-source limit of 5 unauthenticated connections; limits.per_source_max_startups)" in log
    # 115 drops, logged once for the source (rate-limited).
    assert len(re.findall(rf"dropped connection from {re.escape(ATTACKER)}:", log)) <= 2


def test_random_early_drop(mkdaemon, keys, host_exec):
    d = mkdaemon('limits = { max_startups = "2:50:6"; per_source_max_startups = 0; };\n'
                 "penalties = { enabled = false; };\n")
    host_exec(d, keys)      # the port listens once an execution is on it
    held = [connect_from(f"127.0.0.{80 + i}", d.port) for i in range(2)]
    try:
        assert all(banner(s).startswith(b"SSH-2.0-") for s in held)
        # At start (2) half are dropped; each admitted one is closed again
        # and we wait until it is gone, so the count stays at 2.
        drops = 0
        for _ in range(30):
            if admitted("127.0.0.82", d.port):
                wait_for(lambda: status(d)["unauthenticated"] == 2, timeout=5, step=0.01, what="back to 2")
            else:
                drops += 1
        # P(outside 3..27) at p=0.5, n=30 is below 1e-5.
        assert 3 <= drops <= 27, drops
        # At full (6) everyone is dropped.
        for i in range(4):
            s = connect_from(f"127.0.0.{83 + i}", d.port)
            held.append(s)
            if not banner(s).startswith(b"SSH-2.0-"):
                held.pop().close()
        for _ in range(200):   # early drops on the way up: bounded retries
            if len(held) == 6:
                break
            s = connect_from("127.0.0.87", d.port)
            if banner(s).startswith(b"SSH-2.0-"):
                held.append(s)
            else:
                s.close()
        assert status(d)["unauthenticated"] == 6
        assert not any(admitted("127.0.0.88", d.port) for _ in range(10))
        assert "(limits.max_startups 2:50:6)" in d.log()
        assert "random early drop" in d.log()
    finally:
        for s in held:
            s.close()


def test_reload_applies_limits_and_recounts(daemon, keys, host_exec):
    host_exec(daemon, keys)
    held = [connect_from("127.0.0.90", daemon.port) for _ in range(3)]

    def reload(extra):
        n = daemon.log().count("configuration reloaded")
        daemon.write_conf(extra)
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.log().count("configuration reloaded") > n, what="reload")
    try:
        assert all(banner(s).startswith(b"SSH-2.0-") for s in held)
        assert admitted("127.0.0.91", daemon.port)
        reload("limits = { per_source_max_startups = 3; };\n")
        assert not admitted("127.0.0.90", daemon.port)
        assert admitted("127.0.0.91", daemon.port)
        # A new cut: .90 and .91 are one source now, and its 3 are counted again.
        reload("limits = { per_source_max_startups = 3; per_source_prefix_ipv4 = 24; };\n")
        assert "per-source prefixes changed" in daemon.log()
        wait_for(lambda: status(daemon)["unauthenticated"] == 3, what="recount")
        assert not admitted("127.0.0.91", daemon.port)
        for s in held:
            s.close()
        wait_for(lambda: status(daemon)["unauthenticated"] == 0, what="all gone")
        assert admitted("127.0.0.91", daemon.port)
    finally:
        for s in held:
            s.close()


# ---- penalties ----

def test_authfail_penalty_and_exempt_list(mkdaemon, keys, host_exec):
    d = mkdaemon('penalties = { exempt = ["127.0.0.1", "127.0.0.72"]; };\n')
    good, bad = host_exec(d, keys), keys("bad")
    # 5 s per failed login: three make 15 s less the time they took, below
    # min (15 s); the fourth reaches it (a slow machine may need a fifth).
    tries = fail_until_refused(d, "127.0.0.70", bad, 8)
    assert 4 <= tries <= 5, tries
    assert d.log().count("penalised 127.0.0.70 for 5 s (authfail)") == tries
    # Refused now, even with the right key.
    assert not admitted("127.0.0.70", d.port)
    r = ssh_from("127.0.0.70", good, d.port, "echo in")
    assert r.returncode == 255 and "in" not in r.stdout
    # Others are not affected; the exempt address never is.
    assert ssh_from("127.0.0.71", good, d.port, "echo in").stdout == "in\n"
    for _ in range(6):
        assert ssh_from("127.0.0.72", bad, d.port, "true").returncode == 255
    assert ssh_from("127.0.0.72", good, d.port, "echo in").stdout == "in\n"
    log = d.log()
    assert "penalised 127.0.0.72" not in log
    assert re.search(r"refused connection from 127\.0\.0\.70:\d+: penalised \(authfail\) for another \d+ s", log)
    st = status(d)
    assert st["penalised_sources"] == 1
    # Every failed login counts, penalised or exempt; refusals at accept do not.
    assert st["auth_failures"] == tries + 6, st
    human = d.ctl("status", check=True).stdout
    assert re.search(r"^penalised sources: +1$", human, re.M) and re.search(r"^unauthenticated: +0$", human, re.M)


def test_penalty_runs_out(mkdaemon, keys, host_exec):
    d = mkdaemon('penalties = { exempt = ["127.0.0.1"]; authfail = 2; min = 3; max = 4; };\n')
    good, bad = host_exec(d, keys), keys("bad")
    fail_until_refused(d, "127.0.0.73", bad, 6)
    t0 = time.monotonic()
    assert not admitted("127.0.0.73", d.port)
    wait_for(lambda: admitted("127.0.0.73", d.port), timeout=8, step=0.2, what="penalty to run out")
    assert time.monotonic() - t0 < 6
    assert ssh_from("127.0.0.73", good, d.port, "echo in").stdout == "in\n"
    assert status(d)["penalised_sources"] == 0


def test_noauth_penalty(daemon, keys, host_exec):
    """Connecting and leaving without trying to log in: 1 s each; the
    source is refused once 15 s have accrued."""
    host_exec(daemon, keys)
    leave_until_refused(daemon, "127.0.0.69")
    log = daemon.log()
    # At least 15 of them (less the time they took) to reach min.
    assert log.count("penalised 127.0.0.69 for 1 s (noauth)") >= 15
    assert "refusing 127.0.0.69" in log
    assert re.search(r"connection from 127\.0\.0\.69:\d+ closed before authentication", log)
    assert status(daemon)["penalised_sources"] == 1


def test_grace_exceeded_penalty_and_log(mkdaemon, keys, host_exec):
    d = mkdaemon("limits = { login_grace_time = 1; };\n")
    host_exec(d, keys)
    held = [connect_from("127.0.0.74", d.port) for _ in range(2)]
    ports = [s.getsockname()[1] for s in held]
    try:
        assert all(banner(s).startswith(b"SSH-2.0-") for s in held)
        # The server hangs up after the grace time...
        for s in held:
            s.settimeout(6)
            assert banner(s) == b""
        # ...and says so, once per connection (before: silent even at debug).
        wait_for(lambda: all(f"timeout before authentication from 127.0.0.74:{p}" in d.log() for p in ports),
                 what="grace lines")
        log = d.log()
        for p in ports:
            assert len(endings_of(log, f"127.0.0.74:{p}")) == 1, log
        # Two timeouts: 20 s, past min.
        wait_for(lambda: "refusing 127.0.0.74" in d.log(), what="penalty")
        assert "penalised 127.0.0.74 for 10 s (grace-exceeded)" in d.log()
        assert not admitted("127.0.0.74", d.port)
    finally:
        for s in held:
            s.close()


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(x) for x in f.read().split()}


def monitors(pid):
    """The daemon's children serving a connection (spare monitors, which
    wait for one, are named peon-sshd-spare)."""
    found = set()
    for c in children(pid):
        try:
            with open(f"/proc/{c}/comm") as f:
                if f.read().strip() == "peon-sshd-mon":
                    found.add(c)
        except OSError:
            pass
    return found


def test_crash_penalty_and_prefix(mkdaemon, keys, host_exec):
    """A session process killed by SIGSEGV is a crash: 90 s at once, for
    the whole /24 here. The exempt 127.0.0.1 in that /24 still gets in."""
    d = mkdaemon("limits = { per_source_prefix_ipv4 = 24; };\n")
    k = host_exec(d, keys)
    before = monitors(d.proc.pid)
    s = connect_from("127.0.0.75", d.port)
    try:
        assert banner(s).startswith(b"SSH-2.0-")
        new = wait_for(lambda: monitors(d.proc.pid) - before, what="session process")
        assert len(new) == 1
        os.kill(new.pop(), signal.SIGSEGV)
        s.settimeout(5)
        assert banner(s) == b""
    finally:
        s.close()
    wait_for(lambda: "refusing 127.0.0.0/24" in d.log(), what="crash penalty")
    log = d.log()
    assert re.search(r"session process \d+ serving 127\.0\.0\.75:\d+ crashed \(signal 11", log)
    assert "penalised 127.0.0.0/24 for 90 s (crash)" in log
    assert not admitted("127.0.0.76", d.port)
    assert ssh(k, d.port, "echo in").stdout == "in\n"


def test_protocol_error_logged(daemon, keys, host_exec):
    host_exec(daemon, keys)
    s = connect_from("127.0.0.68", daemon.port)
    port = s.getsockname()[1]
    try:
        assert banner(s).startswith(b"SSH-2.0-")
        # A version line, then a packet claiming to be 4 GiB long.
        s.sendall(b"SSH-2.0-garbage\r\n" + b"\xff\xff\xff\xf0" + b"\x00" * 64)
        s.settimeout(5)
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    finally:
        s.close()
    wait_for(lambda: f"protocol error from 127.0.0.68:{port}" in daemon.log(), what="protocol error line")
    assert len(endings_of(daemon.log(), f"127.0.0.68:{port}")) == 1, daemon.log()


def test_refusal_lines_are_rate_limited(daemon, keys, host_exec):
    """A penalised source hammering the port gets one line, not one per try."""
    host_exec(daemon, keys)
    leave_until_refused(daemon, "127.0.0.79")
    for _ in range(200):
        c = connect_from("127.0.0.79", daemon.port)
        assert banner(c) == b""
        c.close()
    log = daemon.log()
    assert 1 <= len(re.findall(r"refused connection from 127\.0\.0\.79:", log)) <= 2, log[-3000:]


# ---- the flood ----

# The load generators share this machine's ephemeral ports with the real
# client: IP_BIND_ADDRESS_NO_PORT lets connect() pick the port (shared by
# 4-tuple, not reserved by bind), and closing with a reset (SO_LINGER 0)
# leaves no TIME_WAIT behind. Otherwise ~28k closed connections exhaust
# the ports and the real client's connect() fails on this side.
SOCKET_OPTS = r"""
import socket, struct
IP_BIND_ADDRESS_NO_PORT = 24

def attacker_socket(src):
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.bind((src, 0))
    return s
"""

FLOOD = SOCKET_OPTS + r"""
import errno, selectors, sys, time
src, port, n, seconds, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
end = time.monotonic() + seconds
sel = selectors.DefaultSelector()
made = failed = 0

def open_one():
    global made, failed
    try:
        s = attacker_socket(src)
    except OSError:
        failed += 1
        return
    s.setblocking(False)
    if s.connect_ex(("127.0.0.1", port)) not in (0, errno.EINPROGRESS):
        s.close()
        failed += 1
        return
    made += 1
    sel.register(s, selectors.EVENT_READ)

# n silent connections, each reopened the moment the server closes it: an
# unbounded reconnect loop, bounded here by time and count.
for _ in range(n):
    open_one()
while time.monotonic() < end and made < limit:
    events = sel.select(timeout=0.05)
    for key, _ in events:
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(s)
            s.close()
            open_one()
    while len(sel.get_map()) < n and made < limit and time.monotonic() < end:
        open_one()
        if failed and failed % 1000 == 0:
            time.sleep(0.01)
print(made, failed, flush=True)
"""

CHURN = SOCKET_OPTS + r"""
import sys, time
src, port, seconds, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
end = time.monotonic() + seconds
made = 0
while time.monotonic() < end and made < limit:
    s = attacker_socket(src)
    try:
        s.settimeout(1)
        s.connect(("127.0.0.1", port))
        made += 1
    except OSError:
        time.sleep(0.001)
    finally:
        s.close()
print(made, flush=True)
"""


def test_flood_does_not_lock_out_real_users(mkdaemon, keys, job):
    """500 silent connections plus an unbounded reconnect loop from
    127.0.0.66 while a real OpenSSH client on 127.0.0.1 logs in every
    second: at least 95% of the logins succeed, each in under 1 s.

    Nothing is exempt here: the real user earns no penalty by logging in.
    The login runs `true` in a job's busybox shell: a --host root shell on a
    test machine reads root's startup files (pyenv here: 300-400 ms), which
    is not what this measures."""
    d = mkdaemon("penalties = { exempt = []; };\n")
    k = keys("user")
    d.add("exec-pre", "--pid", str(job()), key=k)
    assert ssh(k, d.port, "true").returncode == 0          # warm up
    seconds, logins = 30, 25
    gens = [subprocess.Popen([sys.executable, "-c", FLOOD, ATTACKER, str(d.port), "500", str(seconds), "3000000"],
                             stdout=subprocess.PIPE, text=True, start_new_session=True),
            subprocess.Popen([sys.executable, "-c", CHURN, ATTACKER, str(d.port), str(seconds), "3000000"],
                             stdout=subprocess.PIPE, text=True, start_new_session=True)]
    times, failures = [], []
    try:
        time.sleep(2)                                       # let the flood build up
        for _ in range(logins):
            t0 = time.monotonic()
            r = ssh(k, d.port, "true", opts=["ConnectTimeout=5"], timeout=20)
            took = time.monotonic() - t0
            times.append((took, r.returncode))
            if r.returncode:
                failures.append(r.stderr.strip()[-300:])
            time.sleep(max(0.0, 1.0 - took))
        flood_made = [g.communicate(timeout=seconds + 30)[0].split() for g in gens]
    finally:
        for g in gens:
            try:
                os.killpg(g.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            g.wait()
    good = [t for t, rc in times if rc == 0 and t < 1.0]
    worst = max(t for t, _ in times)
    print(f"\nflood: {flood_made}; logins ok under 1 s: {len(good)}/{len(times)}; "
          f"median {sorted(t for t, _ in times)[len(times) // 2] * 1000:.0f} ms, worst {worst * 1000:.0f} ms; "
          f"failures: {failures}")
    assert len(good) >= 0.95 * len(times), (times, failures)
    assert int(flood_made[0][0]) + int(flood_made[1][0]) > 10000, flood_made     # it was a flood
    log = d.log()
    assert f"penalised {ATTACKER}" in log or f"dropped connection from {ATTACKER}" in log
    # The journal is not flooded with it.
    assert log.count(ATTACKER) < 300, log.count(ATTACKER)
    assert d.proc.poll() is None
