"""Privilege separation (issue 8).

Per connection: daemon (root) --fork--> monitor (root, comm peon-sshd-mon,
the pid `sessions` lists) --fork+exec--> network child (comm peon-sshd-net,
exec'd from a memfd). The network child is sandboxed before it reads a byte
from the client: its own uid/gid from the privsep range, no groups, no
capabilities, no_new_privs, seccomp filter, chroot into an empty directory,
only the TCP socket (fd 0), the monitor socket (fd 1) and stderr (fd 2)
open before authentication.

The protocol-violation and sandbox-probe tests run the daemon with the
test-hook network image (build/peon-sshd-net-testhooks, built with
-DPEON_TEST_HOOKS) copied beside a copy of the daemon; the hooks are
triggered by the SSH user name the client sends.

All traffic stays on loopback; every subprocess, socket and wait is
bounded in time; every process started here is ended here."""
import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import serialization

from conftest import ROOT, SSHD, Daemon, paramiko_client, ssh, ssh_argv, wait_for
from test_preauth import banner, connect_from
from test_sftp_image import host_ed25519_seed, memory_holds

MON = "peon-sshd-mon"
NET = "peon-sshd-net"
SFTP = "peon-sftp"
UID_BASE, UID_COUNT = 2147418112, 32768
HOOKS_IMAGE = os.path.join(ROOT, "build", "peon-sshd-net-testhooks")
SFTP_IMAGE = os.path.join(ROOT, "build", "peon-sftp-server")
EMPTY_CAPS = "0000000000000000"
MIB = 1 << 20
BROKE = "network child broke the protocol:"


# ---- /proc helpers ----

def read_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def comm(pid):
    try:
        return read_text(f"/proc/{pid}/comm").strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def status(pid):
    """/proc/PID/status as {field: value} (value with tabs kept)."""
    out = {}
    for line in read_text(f"/proc/{pid}/status").splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def id_list(value):
    return [int(x) for x in value.split()]


def children(pid):
    """Direct children of every thread of pid (empty when it is gone)."""
    found = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return found
    for t in tasks:
        try:
            found |= {int(x) for x in read_text(f"/proc/{pid}/task/{t}/children").split()}
        except (FileNotFoundError, ProcessLookupError):
            pass
    return found


def descendants(pid):
    out, todo = set(), [pid]
    for _ in range(10000):          # bounded walk
        if not todo:
            break
        for c in children(todo.pop()):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def ppid(pid):
    return int(status(pid)["PPid"])


def stat_fields(pid):
    """(state, starttime) from /proc/PID/stat, or None when gone."""
    try:
        s = read_text(f"/proc/{pid}/stat")
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[19])


def alive(pid, starttime):
    """Is that very process (not a reuse of its pid) still running? A
    zombie has ended."""
    st = stat_fields(pid)
    return st is not None and st[1] == starttime and st[0] not in ("Z", "X")


def fds(pid):
    """{fd: readlink target}."""
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            pass
    return out


def socket_inode(target):
    m = re.fullmatch(r"socket:\[(\d+)\]", target or "")
    return int(m.group(1)) if m else None


def tcp_table():
    """{inode: (local port, remote port)} of every TCP socket in our (the
    daemon's) network namespace, IPv4 and IPv6."""
    out = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = read_text(name).splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            lport = int(f[1].rsplit(":", 1)[1], 16)
            rport = int(f[2].rsplit(":", 1)[1], 16)
            out[int(f[9])] = (lport, rport)
    return out


def unix_inodes():
    out = set()
    for line in read_text("/proc/net/unix").splitlines()[1:]:
        f = line.split()
        if len(f) >= 7:
            out.add(int(f[6]))
    return out


def monitors(d):
    return sorted(p for p in children(d.proc.pid) if comm(p) == MON)


def net_children(mon):
    return sorted(p for p in children(mon) if comm(p) == NET)


def tree(d):
    """The daemon's descendants for failure messages: pid(comm)<-ppid."""
    out = []
    for p in sorted(descendants(d.proc.pid)):
        try:
            out.append(f"{p}({comm(p)})<-{ppid(p)}")
        except (FileNotFoundError, ProcessLookupError, KeyError):
            pass
    return " ".join(out) or "(none)"


def find(d, pred, what, timeout=10.0):
    """wait_for, with the daemon's process tree in the failure message."""
    try:
        return wait_for(pred, timeout=timeout, what=what)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what}; processes under the daemon: {tree(d)}") from None


def net_child_for_client_port(d, client_port):
    """(monitor, network child) serving the TCP connection whose client end
    has client_port, found by the child's fd 0; None while not there."""
    table = tcp_table()
    for mon in monitors(d):
        for child in net_children(mon):
            try:
                ino = socket_inode(os.readlink(f"/proc/{child}/fd/0"))
            except (FileNotFoundError, ProcessLookupError):
                continue
            if ino in table and table[ino] == (d.port, client_port):
                return mon, child
    return None


def session_processes(d, exec_id=None, n=1):
    """[(monitor, network child)] of the authenticated sessions, once
    `sessions` lists n of them and each monitor has its network child."""
    def ready():
        s = d.sessions(exec_id)
        if len(s) != n:
            return None
        pairs = []
        for rec in s:
            kids = net_children(rec["pid"])
            if len(kids) != 1:
                return None
            pairs.append((rec["pid"], kids[0]))
        return pairs
    return find(d, ready, f"{n} session(s) listed, each with one {NET} child of its monitor", timeout=30)


def libc_start(pid):
    for line in read_text(f"/proc/{pid}/maps").splitlines():
        if "libc.so" in line:
            return int(line.split("-", 1)[0], 16)
    return None


# ---- connections ----

def raw_connection(d, send_version, src="127.0.0.1"):
    """A TCP connection that has read the server's banner and sent at most
    its own version line: (socket, monitor, network child)."""
    s = connect_from(src, d.port)
    try:
        got = banner(s)
        assert got.startswith(b"SSH-2.0-"), f"no banner from the server: {got!r}"
        if send_version:
            s.sendall(b"SSH-2.0-test\r\n")
        port = s.getsockname()[1]
        mon, child = find(d, lambda: net_child_for_client_port(d, port),
                          f"the {NET} child whose fd 0 is the connection from port {port}")
        return s, mon, child
    except BaseException:
        s.close()
        raise


def echo_roundtrip(chan, data=b"ping\n", timeout=10):
    """Send data on a channel running `cat`; assert it comes back."""
    chan.settimeout(timeout)
    chan.sendall(data)
    got = b""
    end = time.monotonic() + timeout
    while len(got) < len(data) and time.monotonic() < end:
        try:
            chunk = chan.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk
    assert got == data, f"the earlier session no longer echoes: sent {data!r}, got {got!r}"


def sleep_token(seconds):
    """An argument for sleep that no other process on the machine has."""
    return f"{seconds}.{secrets.randbelow(10 ** 6):06d}"


def sleepers(token):
    found = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            with open(f"/proc/{e}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"sleep" and argv[1:2] == [token.encode()]:
            found.append(int(e))
    return found


def ssh_sleeping(k, d, seconds, then=""):
    """An OpenSSH session running `sleep` with an argument of its own
    (plus `then`, a command after it): (process, token)."""
    token = sleep_token(seconds)
    p = subprocess.Popen(ssh_argv(k, d.port, f"sleep {token}{then}"), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return p, token


def wait_sleeping(d, token):
    """Wait until the shell has run `sleep token`. A session ended while its
    login shell still runs root's startup files could kill those halfway
    (pyenv's rehash, on this machine, then leaves a stale lock that stalls
    every later root shell for a minute), so tests end sessions only once
    their command runs."""
    return find(d, lambda: sleepers(token), f"the process running sleep {token}", timeout=60)


def kill_proc(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p.wait(timeout=10)


def host_exec(d, keys, name="exec-ps"):
    k = keys("user")
    d.add(name, "--host", "--user", "root", key=k)
    return k


# ---- the sandbox checks ----

def wait_sandboxed(d, child):
    """A connection that only read the banner gave the child no byte: once
    the sandbox is complete it was complete before any read. Wait for it
    (the child may write the banner before its last sandbox step)."""
    find(d, lambda: status(child).get("Seccomp") == "2" and status(child).get("NoNewPrivs") == "1",
         f"{NET} {child} to run under seccomp with no_new_privs", timeout=5)


def check_net_child(d, mon, child, during_shell, uid_range=(UID_BASE, UID_COUNT)):
    """Every property of a network child and its monitor, all reported at
    once; returns (uid, gids, tcp inode)."""
    where = f"{NET} {child} (monitor {mon}, {'during a shell' if during_shell else 'before authentication'})"
    bad = []

    def want(ok, msg):
        if not ok:
            bad.append(msg)
    assert comm(mon) == MON, f"{mon} is {comm(mon)!r}, not the monitor"
    want(ppid(mon) == d.proc.pid, f"the monitor's parent is {ppid(mon)}, not the daemon {d.proc.pid}")
    want(ppid(child) == mon, f"PPid {ppid(child)}, not the monitor")
    st = status(child)
    uids, gids = id_list(st["Uid"]), id_list(st["Gid"])
    want(len(set(uids)) == 1 and uids[0] != 0, f"Uid {uids}: want four equal non-zero values")
    base, count = uid_range
    want(base <= uids[0] < base + count, f"uid {uids[0]} outside [{base}, {base + count})")
    want(0 not in gids, f"Gid {gids}: want all non-zero")
    want(st.get("Groups") == "", f"Groups {st.get('Groups')!r}: want none")
    for cap in ("CapPrm", "CapEff", "CapBnd", "CapAmb"):
        want(st.get(cap) == EMPTY_CAPS, f"{cap} {st.get(cap)}")
    want(st.get("NoNewPrivs") == "1", f"NoNewPrivs {st.get('NoNewPrivs')}")
    want(st.get("Seccomp") == "2", f"Seccomp {st.get('Seccomp')} (2 = filter)")
    root = os.listdir(f"/proc/{child}/root")
    want(root == [], f"its root directory is not empty: {sorted(root)[:20]}")
    exe = os.readlink(f"/proc/{child}/exe")
    want(exe.startswith("/memfd:peon-sshd-net"), f"exe is {exe!r}, want a memfd named peon-sshd-net")

    open_fds = fds(child)
    tcp, unix = tcp_table(), unix_inodes()
    ino0 = socket_inode(open_fds.get(0))
    if ino0 is None or ino0 not in tcp:
        bad.append(f"fd 0 is {open_fds.get(0)!r}, not a TCP socket")
    else:
        want(tcp[ino0][0] == d.port, f"fd 0 is TCP {tcp[ino0]}, not a connection to port {d.port}")
    ino1 = socket_inode(open_fds.get(1))
    want(ino1 is not None and ino1 in unix, f"fd 1 is {open_fds.get(1)!r}, not a unix socket")
    daemon_err = os.readlink(f"/proc/{d.proc.pid}/fd/2")
    want(open_fds.get(2) in ("/dev/null", daemon_err),
         f"fd 2 is {open_fds.get(2)!r}, want /dev/null or the daemon's stderr {daemon_err!r}")
    others = {fd: t for fd, t in open_fds.items() if fd > 2}
    if not during_shell:
        want(others == {}, f"fds beyond 0-2 before authentication: {others}")
    else:
        for fd, t in others.items():
            want(t.startswith("pipe:[") or t.endswith("ptmx")
                 or (socket_inode(t) is not None and socket_inode(t) not in unix),
                 f"fd {fd} -> {t!r} is neither a pipe, a pty master nor a forwarded TCP socket")

    # The monitor: root, and never the TCP socket.
    want(id_list(status(mon)["Uid"])[0] == 0, f"monitor: Uid {status(mon)['Uid']}: want root")
    if ino0 is not None:
        held = {fd: t for fd, t in fds(mon).items() if socket_inode(t) == ino0}
        want(not held, f"the monitor holds the client's TCP socket {ino0} as fds {held}")
    assert not bad, f"{where}:\n  " + "\n  ".join(bad) + f"\n  (child's fds: {open_fds})"
    return uids[0], tuple(gids), ino0


# ---- fixtures ----

@pytest.fixture
def mkdaemon(tmp_path, hostkeys):
    made = []

    def make(extra="", sshd=None):
        base = tmp_path / f"d{len(made)}"
        base.mkdir()
        d = Daemon(str(base), hostkeys, extra, sshd=sshd)
        made.append(d)
        return d.start()
    yield make
    for d in made:
        d.stop()


@pytest.fixture
def hooked(tmp_path, mkdaemon, keys):
    """A daemon whose network image is the test-hook build; (daemon, key)
    with the key registered for a host execution."""
    assert os.path.isfile(HOOKS_IMAGE), \
        f"{HOOKS_IMAGE} is missing: the test-hook network image (built with -DPEON_TEST_HOOKS) must be built"
    assert os.path.isfile(SFTP_IMAGE), f"{SFTP_IMAGE} is missing"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.chmod(bindir, 0o755)
    for src, name in ((SSHD, "peon-sshd"), (HOOKS_IMAGE, "peon-sshd-net"), (SFTP_IMAGE, "peon-sftp-server")):
        shutil.copyfile(src, bindir / name)
        os.chmod(bindir / name, 0o755)
    d = mkdaemon(sshd=str(bindir / "peon-sshd"))
    return d, host_exec(d, keys)


# ---- the network child's sandbox ----

def test_network_child_sandboxed_before_reading_a_byte(daemon, keys):
    """Two raw connections: one has only read the banner, the other also
    sent its version line. Both have a sandboxed child already, with
    different ids."""
    host_exec(daemon, keys)
    silent, mon_a, child_a = raw_connection(daemon, send_version=False)
    try:
        versioned, mon_b, child_b = raw_connection(daemon, send_version=True)
        try:
            assert mon_a != mon_b and child_a != child_b
            wait_sandboxed(daemon, child_a)
            wait_sandboxed(daemon, child_b)
            uid_a, gids_a, _ = check_net_child(daemon, mon_a, child_a, during_shell=False)
            uid_b, gids_b, _ = check_net_child(daemon, mon_b, child_b, during_shell=False)
            assert uid_a != uid_b, f"two connections' network children share uid {uid_a}"
            assert not set(gids_a) & set(gids_b), \
                f"two connections' network children share a gid: {gids_a} and {gids_b}"
        finally:
            versioned.close()
    finally:
        silent.close()


def test_uid_range_from_config(mkdaemon, keys):
    base, count = 3000000, 8
    d = mkdaemon(f"privsep = {{ uid_base = {base}; uid_count = {count}; }};\n")
    host_exec(d, keys)
    held = []
    try:
        seen = []
        for send_version in (False, True):
            s, mon, child = raw_connection(d, send_version)
            held.append(s)
            wait_sandboxed(d, child)
            seen.append(check_net_child(d, mon, child, during_shell=False, uid_range=(base, count))[0])
        assert seen[0] != seen[1], seen
    finally:
        for s in held:
            s.close()


def test_restart_keeps_running_sessions_uids(mkdaemon, keys):
    """A restarted daemon does not hand a running session's uid to a new
    connection: the slot is in the session record. With two slots, one kept
    by the surviving session, a second new connection is refused."""
    d = mkdaemon("privsep = { uid_base = 3000000; uid_count = 2; };\n")
    k = host_exec(d, keys)
    p, token = ssh_sleeping(k, d, 120)
    held = []
    try:
        [(mon, child)] = session_processes(d, n=1)
        wait_sleeping(d, token)
        kept = int(status(child)["Uid"].split()[0])
        d.restart()
        assert alive(child, stat_fields(child)[1]), "the session did not survive the restart"
        s, _, other = raw_connection(d, send_version=True)
        held.append(s)
        wait_sandboxed(d, other)
        assert int(status(other)["Uid"].split()[0]) not in (kept, 0)
        third = connect_from("127.0.0.1", d.port)
        held.append(third)
        assert banner(third) == b"", "a third connection got in with two uids, one of them kept"
        wait_for(lambda: "every uid of the privsep range is in use" in d.log(), what="the refusal line")
    finally:
        for c in held:
            c.close()
        kill_proc(p)


def test_network_child_sandboxed_during_shell(daemon, keys):
    """The same sandbox during live sessions: OpenSSH without a pty, and
    paramiko with a pty."""
    k = host_exec(daemon, keys)
    p, token_a = ssh_sleeping(k, daemon, 30)
    tokens = token_a, sleep_token(30)
    c = None
    try:
        [(mon_a, child_a)] = session_processes(daemon, n=1)
        c = paramiko_client(daemon, k)
        chan = c.get_transport().open_session(timeout=10)
        chan.get_pty()
        chan.exec_command(f"sleep {tokens[1]}")
        pairs = session_processes(daemon, n=2)
        for t in tokens:
            wait_sleeping(daemon, t)
        [(mon_b, child_b)] = [pr for pr in pairs if pr[0] != mon_a]
        assert p.poll() is None, "the ssh session ended early"
        uid_a, gids_a, _ = check_net_child(daemon, mon_a, child_a, during_shell=True)
        uid_b, gids_b, _ = check_net_child(daemon, mon_b, child_b, during_shell=True)
        assert uid_a != uid_b, f"two sessions' network children share uid {uid_a}"
        assert not set(gids_a) & set(gids_b), f"two sessions share a gid: {gids_a} and {gids_b}"
    finally:
        if c:
            c.close()
        kill_proc(p)


def test_network_child_layout_differs_from_the_daemon(daemon, keys):
    """The child is exec'd: its own address-space layout (the monitor is a
    plain fork and is not compared)."""
    assert read_text("/proc/sys/kernel/randomize_va_space").strip() != "0", \
        "ASLR is off on this machine (kernel.randomize_va_space = 0): layouts cannot differ"
    host_exec(daemon, keys)
    s, mon, child = raw_connection(daemon, send_version=True)
    try:
        ours, theirs = libc_start(daemon.proc.pid), libc_start(child)
        assert ours is not None, "the daemon maps no libc.so"
        assert theirs is not None, f"{NET} {child} maps no libc.so (is it linked statically?)"
        assert ours != theirs, f"libc at {ours:#x} in both the daemon and its network child: not re-randomised"
        assert os.readlink(f"/proc/{child}/exe").startswith("/memfd:peon-sshd-net")
    finally:
        s.close()


def test_killing_the_monitor_ends_child_and_shell(daemon, keys):
    k = host_exec(daemon, keys)
    p, token = ssh_sleeping(k, daemon, 1000)
    sleeping = []
    try:
        [(mon, child)] = session_processes(daemon, n=1)
        # The login shell may take its time (root's .bashrc on a busy machine).
        sleeping = wait_sleeping(daemon, token)
        assert len(sleeping) == 1, sleeping
        watched = {"network child": (child, stat_fields(child)[1]),
                   "sleep": (sleeping[0], stat_fields(sleeping[0])[1])}
        os.kill(mon, signal.SIGKILL)
        t0 = time.monotonic()
        try:
            wait_for(lambda: not any(alive(*v) for v in watched.values()), timeout=1.0, step=0.01)
        except AssertionError:
            left = [f"{n} {v[0]}" for n, v in watched.items() if alive(*v)]
            raise AssertionError(f"1 s after kill -9 of monitor {mon}, still running: {left}") from None
        print(f"\nchild and shell gone {1000 * (time.monotonic() - t0):.0f} ms after the monitor's kill")
        assert daemon.proc.poll() is None
    finally:
        kill_proc(p)
        for pid in sleeping:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# ---- host private keys ----

def host_rsa_d(keydir):
    """The RSA host key's private exponent as big-endian bytes and as the
    little-endian bytes an x86-64 BIGNUM keeps in memory."""
    with open(os.path.join(keydir, "ssh_host_rsa_key"), "rb") as f:
        data = f.read()
    try:
        key = serialization.load_ssh_private_key(data, None)
    except ValueError:
        key = serialization.load_pem_private_key(data, None)
    d = key.private_numbers().d
    n = (d.bit_length() + 7) // 8
    return d.to_bytes(n, "big"), d.to_bytes(n, "little")


def test_host_private_keys_only_in_the_network_child(daemon, keys):
    k = host_exec(daemon, keys)
    seed = host_ed25519_seed(daemon.keydir)
    d_be, d_le = host_rsa_d(daemon.keydir)
    c = paramiko_client(daemon, k)
    try:
        sf = c.open_sftp()
        assert sf.normalize(".")
        [(mon, child)] = session_processes(daemon, n=1)
        sftp = find(daemon, lambda: [p for p in descendants(daemon.proc.pid) if comm(p) == SFTP],
                    f"the {SFTP} process")
        assert len(sftp) == 1, sftp
        # The scan works: the network child signs the key exchange.
        assert memory_holds(child, seed), f"{NET} {child} does not hold the ed25519 seed: the scan is broken"
        assert memory_holds(child, d_le) or memory_holds(child, d_be), \
            f"{NET} {child} holds the RSA private exponent in neither byte order: the scan is broken"
        for name, pid in (("daemon", daemon.proc.pid), ("monitor", mon), ("SFTP process", sftp[0])):
            assert not memory_holds(pid, seed), f"the {name} ({pid}) holds the ed25519 host key seed"
            assert not memory_holds(pid, d_be), f"the {name} ({pid}) holds the RSA private exponent (big-endian)"
            assert not memory_holds(pid, d_le), f"the {name} ({pid}) holds the RSA private exponent (BIGNUM)"
        sf.close()
    finally:
        c.close()


def test_network_child_reads_only_the_host_keys_it_can_offer(mkdaemon, keys):
    """A key no configured host-key algorithm can use stays on disk: with
    only ssh-ed25519 offered, no network child holds the RSA key."""
    d = mkdaemon('algorithms = { host_keys = "ssh-ed25519"; };\n')
    k = host_exec(d, keys)
    seed = host_ed25519_seed(d.keydir)
    d_be, d_le = host_rsa_d(d.keydir)
    p, token = ssh_sleeping(k, d, 30)
    try:
        wait_sleeping(d, token)
        [(_, child)] = session_processes(d, n=1)
        assert memory_holds(child, seed), f"{NET} {child} does not hold the ed25519 seed: the scan is broken"
        assert not memory_holds(child, d_be) and not memory_holds(child, d_le), \
            f"{NET} {child} holds the RSA private exponent though only ssh-ed25519 is offered"
    finally:
        kill_proc(p)


# ---- algorithms under the sandbox ----

ALGO_DEBUG = {
    # category: (ssh -Q queries, how the client's debug output names the pick)
    "kex": (("kex",), "kex: algorithm: {}"),
    "ciphers": (("cipher",), "kex: server->client cipher: {} "),
    "macs": (("mac",), "MAC: {} compression"),
    "host_keys": (("key", "key-sig", "HostKeyAlgorithms"), "kex: host key algorithm: {}"),
}
AEAD = ("chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def server_algorithms(d):
    r = subprocess.run([d.sshd, "-f", d.conf, "-T"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    found = {}
    for cat in ALGO_DEBUG:
        m = re.search(rf'^\s*{cat}\s*=\s*"([^"]*)"\s*;', r.stdout, re.M)
        assert m, f"-T prints no {cat} = \"...\" line:\n{r.stdout}"
        found[cat] = [a for a in m.group(1).split(",") if a]
        assert found[cat], f"-T lists no {cat}"
    return found


def client_supports(queries):
    out = set()
    for q in queries:
        r = subprocess.run(["ssh", "-Q", q], capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            out |= set(r.stdout.split())
    return out


def assert_privsep_active(d):
    """The runs below are under the sandbox, not in an old-style session."""
    s, mon, child = raw_connection(d, send_version=True)
    try:
        wait_sandboxed(d, child)
    finally:
        s.close()


@pytest.mark.parametrize("category", list(ALGO_DEBUG))
def test_every_algorithm_works_under_the_sandbox(mkdaemon, keys, category):
    """Each algorithm alone, 3 MiB each way with a new key every 32 KiB
    (client and server), all computed by the sandboxed network child."""
    d = mkdaemon('limits = { rekey_data = "32K"; };\n')
    k = host_exec(d, keys)
    assert_privsep_active(d)
    algos = server_algorithms(d)
    supported = client_supports(ALGO_DEBUG[category][0])
    tried = [a for a in algos[category] if a in supported]
    skipped = [a for a in algos[category] if a not in supported]
    assert tried, f"OpenSSH's client supports none of the server's {category}: {algos[category]}"
    if category == "macs":
        plain = [c for c in algos["ciphers"] if c not in AEAD and c in client_supports(("cipher",))]
        assert plain, f"the server offers no non-AEAD cipher to test MACs with: {algos['ciphers']}"
    option = {"kex": "KexAlgorithms", "ciphers": "Ciphers", "macs": "MACs", "host_keys": "HostKeyAlgorithms"}
    failures = []
    blob = os.urandom(3 * MIB)
    want_up = hashlib.sha256(blob).hexdigest()
    for algo in tried:
        opts = ["LogLevel=DEBUG1", f"{option[category]}={algo}", "RekeyLimit=32K"]
        if category == "macs":
            opts.append(f"Ciphers={'aes128-ctr' if 'aes128-ctr' in plain else plain[0]}")
        for way in ("down", "up"):
            t0 = time.monotonic()
            try:
                if way == "down":
                    r = ssh(k, d.port, "head -c 3145728 /dev/zero", text=False, opts=opts, timeout=240)
                    ok = r.returncode == 0 and r.stdout == bytes(3 * MIB)
                    got = f"{len(r.stdout)} bytes"
                else:
                    r = ssh(k, d.port, "sha256sum", input=blob, text=False, opts=opts, timeout=240)
                    ok = r.returncode == 0 and r.stdout.split()[:1] == [want_up.encode()]
                    got = r.stdout[:100]
            except subprocess.TimeoutExpired:
                failures.append(f"{algo} {way}: timed out")
                continue
            err = r.stderr.decode(errors="replace")
            picked = ALGO_DEBUG[category][1].format(algo) in err
            rekeys = err.count("SSH2_MSG_NEWKEYS received")
            took = time.monotonic() - t0
            if not ok or not picked or rekeys < 3:
                tail = "\n".join(l for l in err.splitlines() if not l.startswith("debug1:"))[-500:]
                failures.append(f"{algo} {way}: rc {r.returncode}, got {got}, negotiated: {picked}, "
                                f"new keys: {rekeys}, {took:.1f} s; {tail}")
    print(f"\n{category}: tried {tried}; not supported by the client: {skipped}")
    assert d.proc.poll() is None
    assert not failures, "\n".join(failures) + "\n" + d.log()[-3000:]


# ---- test hooks: the sandbox from inside ----

def test_hook_open_is_denied_and_the_connection_goes_on(hooked):
    d, k = hooked
    r = ssh(k, d.port, "echo in", user="peon-test-open", timeout=60)
    wait_for(lambda: "test hook: open /etc/hostname: Permission denied" in d.log(), timeout=5,
             what="the hook's open line")
    assert r.returncode == 0 and r.stdout == "in\n", \
        f"the connection did not go on after the denied open: rc {r.returncode} {r.stderr}\n{d.log()[-3000:]}"
    assert "killed by signal" not in d.log()
    assert BROKE not in d.log()


def test_hook_socket_kills_the_child_with_sigsys_and_penalises(hooked):
    d, k = hooked
    src = "127.0.0.77"          # 127.0.0.1 is exempt from penalties in the harness
    t0 = time.monotonic()
    r = ssh(k, d.port, "echo in", user="peon-test-socket", opts=[f"BindAddress={src}"], timeout=30)
    assert r.returncode == 255 and "in" not in r.stdout, (r.returncode, r.stdout, r.stderr)
    assert time.monotonic() - t0 < 10

    def killed_line():
        return [l for l in d.log().splitlines() if "network child" in l and "killed by signal 31" in l]
    try:
        wait_for(killed_line, timeout=5, what="the SIGSYS line")
    except AssertionError:
        raise AssertionError("no line with both 'network child' and 'killed by signal 31':\n"
                             + d.log()[-3000:]) from None
    wait_for(lambda: f"penalised {src} for 90 s (crash)" in d.log(), timeout=5, what="the crash penalty")
    assert d.proc.poll() is None
    s = connect_from(src, d.port)
    try:
        assert banner(s) == b"", f"{src} is still admitted after its crash penalty"
    finally:
        s.close()
    assert ssh(k, d.port, "echo in").stdout == "in\n"


VIOLATIONS = [
    ("peon-test-spawn-before-auth", "spawn before authentication"),
    ("peon-test-second-claim", "a second claim"),
    ("peon-test-unknown-channel", "unknown channel"),
    ("peon-test-oversized", "message too large"),
    ("peon-test-fd-upward", "file descriptors sent to the monitor"),
]


@pytest.mark.parametrize("user,reason", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_protocol_violation_ends_only_that_connection(hooked, user, reason):
    d, k = hooked
    bystander = paramiko_client(d, k)
    sleeper, token = ssh_sleeping(k, d, 120, then="; echo done")
    try:
        chan = bystander.get_transport().open_session(timeout=10)
        chan.exec_command("cat")
        echo_roundtrip(chan, b"before\n")
        session_processes(d, n=2)
        wait_sleeping(d, token)
        t0 = time.monotonic()
        r = ssh(k, d.port, "echo reached", user=user, timeout=30)
        took = time.monotonic() - t0
        assert r.returncode != 0 and "reached" not in r.stdout, \
            f"the violating connection went on: rc {r.returncode}, {r.stdout!r}\n{d.log()[-3000:]}"
        assert took < 10, f"the violating connection took {took:.1f} s to end"

        def broke_lines():
            return [l for l in d.log().splitlines() if BROKE in l]
        try:
            wait_for(broke_lines, timeout=5, what="the violation line")
        except AssertionError:
            raise AssertionError(f"no '{BROKE}' line:\n{d.log()[-3000:]}") from None
        lines = broke_lines()
        assert len(lines) == 1, lines
        assert reason in lines[0].split(BROKE, 1)[1], f"want {reason!r} after {BROKE!r}: {lines[0]}"
        assert d.proc.poll() is None, "the daemon died"
        # The violator's monitor and child are gone; the others stay.
        find(d, lambda: len(monitors(d)) == 2 and len(d.sessions()) == 2,
             "only the two earlier sessions' monitors left")
        echo_roundtrip(chan, b"after\n")
        assert bystander.get_transport().is_active()
        assert sleeper.poll() is None, "the earlier ssh session ended"
        assert ssh(k, d.port, "echo again", timeout=60).stdout == "again\n", "a new login fails"
        assert len(broke_lines()) == 1
    finally:
        bystander.close()
        kill_proc(sleeper)


def test_release_image_ignores_hook_names(daemon, keys):
    """The hooks exist only in the test-hook build: the network image the
    daemon runs by default treats these names as any other user name."""
    k = host_exec(daemon, keys)
    assert_privsep_active(daemon)
    for user in ("peon-test-open", "peon-test-socket", "peon-test-spawn-before-auth",
                 "peon-test-second-claim", "peon-test-oversized"):
        r = ssh(k, daemon.port, "echo in", user=user, timeout=60)
        assert r.returncode == 0 and r.stdout == "in\n", (user, r.returncode, r.stderr)
    log = daemon.log()
    for mark in ("test hook", BROKE, "killed by signal"):
        assert mark not in log, f"{mark!r} in the log of the release image"


# ---- spare monitors (spares.h) ----

SPARE = "peon-sshd-spare"


def nice(pid):
    """The nice value, field 19 of /proc/PID/stat."""
    s = read_text(f"/proc/{pid}/stat")
    return int(s[s.rindex(")") + 2:].split()[16])


def spares(d):
    return sorted(p for p in children(d.proc.pid) if comm(p) == SPARE)


def ready_spares(d):
    """Wait for the daemon's two spares, each with its network child started."""
    return find(d, lambda: len(spares(d)) == 2 and all(len(net_children(s)) == 1 for s in spares(d)) and
                spares(d), "two spare monitors, each with its network child")


def test_spares_wait_sandboxed_and_serve_one_connection_each(daemon, keys):
    """Two spare monitors wait with their network children already exec'd
    and sandboxed, holding no connection; a connection is served by one of
    them (renamed peon-sshd-mon), a new spare replaces it, and a reload
    retires the spares (they hold the old configuration and host keys)."""
    d = daemon
    host_exec(d, keys)
    waiting = ready_spares(d)
    uids = set()
    for mon in waiting:
        (child,) = net_children(mon)
        wait_sandboxed(d, child)
        st = status(child)
        uids.add(int(st["Uid"].split()[0]))
        assert st["CapEff"] == EMPTY_CAPS and st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", st
        assert os.listdir(f"/proc/{child}/root") == []
        # No connection yet: nothing beyond the monitor's socket and stderr.
        assert 0 not in fds(child) and set(fds(child)) <= {1, 2}, fds(child)
        # Getting ready runs below the daemon's priority, not at the served clients' expense.
        assert nice(mon) == nice(child) == nice(d.proc.pid) + 10, (nice(mon), nice(child))
    assert len(uids) == 2 and all(UID_BASE <= u < UID_BASE + UID_COUNT for u in uids), uids

    s, mon, child = raw_connection(d, send_version=True)
    try:
        assert mon in waiting, f"the connection got monitor {mon}, not one of the spares {waiting}"
        check_net_child(d, mon, child, during_shell=False)
        assert nice(mon) == nice(child) == nice(d.proc.pid), (nice(mon), nice(child))
        find(d, lambda: len(spares(d)) == 2 and mon not in spares(d), "a new spare in place of the used one")
    finally:
        s.close()

    before = spares(d)
    d.proc.send_signal(signal.SIGHUP)
    find(d, lambda: len(spares(d)) == 2 and not set(spares(d)) & set(before),
         "the reload's new spares, the old ones gone")
    for mon in before:
        assert not os.path.exists(f"/proc/{mon}") or stat_fields(mon)[0] in ("Z", "X"), f"spare {mon} still runs"
    # Retiring a spare is not an error.
    assert "spare monitor" not in d.log() and "network child broke" not in d.log(), d.log()[-2000:]


def test_hand_over_raises_the_monitor_before_it_runs(daemon, keys):
    """A spare forked when a burst took the ready ones may still be starting
    when a client is handed to it; it serves a waiting client from then on,
    so the daemon raises it to its own priority at the hand-over instead of
    leaving that to the monitor once the connection reaches it. Stopped, the
    spares cannot raise themselves: whichever took the connection was
    raised by the daemon."""
    d = daemon
    host_exec(d, keys)
    waiting = ready_spares(d)
    base = nice(d.proc.pid)
    assert all(nice(m) == base + 10 for m in waiting), [nice(m) for m in waiting]
    for mon in waiting:
        os.kill(mon, signal.SIGSTOP)
    s = None
    try:
        s = connect_from("127.0.0.1", d.port)
        raised = find(d, lambda: [m for m in waiting if nice(m) == base], "the spare given the connection, raised")
        assert len(raised) == 1, [nice(m) for m in waiting]
        # Its child waits for the monitor to pass the connection on, and is raised by it then.
        (child,) = net_children(raised[0])
        assert nice(child) == base + 10, nice(child)
    finally:
        for mon in waiting:
            os.kill(mon, signal.SIGCONT)
    try:
        assert banner(s).startswith(b"SSH-2.0-")
        find(d, lambda: nice(child) == base, "the network child raised by its monitor")
    finally:
        s.close()

def primers(d):
    return [p for p in children(d.proc.pid) if comm(p) == "peon-sshd-prime"]


def test_cgroup_primer_is_one_small_helper(daemon, job, keys):
    """The cgroup primer (primer.h): started by the first connection to a
    job, one per daemon however many connections come, holding nothing of
    the daemon's but stdio and its pipe, in the daemon's own cgroups. One
    that dies is reported with the reason; the daemon and its sessions go
    on, and the primer ends with the daemon."""
    k = keys("alice")
    host_exec(daemon, keys)
    assert primers(daemon) == [], "a primer before any connection to a job"
    daemon.add("exec-prime", "--pid", str(job()), key=k)
    for _ in range(3):
        r = ssh(k, daemon.port, "true")
        assert r.returncode == 0, r.stderr
    [primer] = primers(daemon)
    st = status(primer)
    assert id_list(st["Uid"]) == [0, 0, 0, 0]
    assert set(fds(primer)) - {0, 1, 2} == {3}, fds(primer)
    assert fds(primer)[3].startswith("pipe:"), fds(primer)
    with open(f"/proc/{primer}/cgroup") as a, open(f"/proc/{daemon.proc.pid}/cgroup") as b:
        assert a.read() == b.read(), "the primer must write its own cgroup, which is the daemon's"
    os.kill(primer, signal.SIGKILL)
    daemon.wait_log("the cgroup primer ended (Killed)")
    r = ssh(k, daemon.port, "echo still")
    assert r.returncode == 0 and r.stdout == "still\n", r.stderr
    assert primers(daemon) == [], "started again within 10 s of its death"
    daemon.restart()
    assert ssh(k, daemon.port, "true").returncode == 0
    [primer] = primers(daemon)
    daemon.stop()
    wait_for(lambda: not os.path.exists(f"/proc/{primer}"), timeout=5, what="the primer to end with the daemon")
