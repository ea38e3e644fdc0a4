"""Integration harness: a real peon-sshd on 127.0.0.1, real namespaced jobs
(scripts/mkjob), and real clients. Everything lives in per-test temp dirs;
no traffic leaves loopback."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# `make integration SAN=1` points this at a daemon built with ASan/UBSan.
SSHD = os.environ.get("PEON_SSHD") or os.path.join(ROOT, "build", "peon-sshd")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
CTL = os.path.join(ROOT, "build", "peon-sshctl")
MKJOB = os.path.join(ROOT, "scripts", "mkjob")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, step=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


class Daemon:
    def __init__(self, base, hostkeys, extra_conf="", debug_port=None, advertise=True, sshd=None):
        self.sshd = sshd or SSHD
        self.advertise = advertise
        self.base = base
        self.port = debug_port or free_port()
        self.run = os.path.join(base, "run")
        self.sock = os.path.join(self.run, "control.sock")
        self.conf = os.path.join(base, "peon-sshd.conf")
        self.peon = os.path.join(base, "peon.config")
        self.logpath = os.path.join(base, "daemon.log")
        self.keydir = os.path.join(base, "keys")
        if hostkeys and not os.path.exists(self.keydir):
            shutil.copytree(hostkeys, self.keydir)
        with open(self.peon, "w") as f:
            f.write(f"# worker settings\nOTHER_SOFTWARE=1\nDEBUG_PORT={self.port}\n")
        self.write_conf(extra_conf)
        self.proc = None

    def write_conf(self, extra=""):
        # The tests' own client address is exempt from penalties
        # (PerSourcePenaltyExemptList): tests fail authentication from
        # 127.0.0.1 on purpose, and a penalty earned by one assertion would
        # refuse the next login of the same test. Penalties themselves are
        # tested from other 127.x sources (test_preauth.py); a test that
        # writes its own `penalties` group decides for itself.
        exempt = "" if "penalties" in extra else 'penalties = { exempt = ["127.0.0.1"]; };\n'
        with open(self.conf, "w") as f:
            f.write(f'peon_config = "{self.peon}";\n'
                    f'listen_address = ["127.0.0.1"];\n'
                    f'host_key_dir = "{self.keydir}";\n'
                    f'runtime_dir = "{self.run}";\n' +
                    ('advertise_address = "127.0.0.1";\n' if self.advertise else "") + exempt + extra)

    def start(self, env=None):
        self.logf = open(self.logpath, "a")
        before = self.logf.tell()
        env = dict(os.environ if env is None else env)
        # Forked children end with _exit: leak checks would only see the daemon.
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.proc = subprocess.Popen([self.sshd, "-f", self.conf, "-d"], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env)
        try:
            # Ready as systemd sees it (READY=1): after the control socket,
            # the records are restored and their ports listen.
            wait_for(lambda: b" ready: control socket " in self.log_bytes(before) or self.proc.poll() is not None,
                     what="daemon ready")
        except AssertionError:
            self.proc.kill()     # a daemon that never came up is not left behind
            self.proc.wait()
            raise
        assert self.proc.poll() is None, self.log()
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None
        self.assert_no_sanitizer_report()

    def restart(self):
        self.stop()
        return self.start()

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=10.0):
        """Waits until the log holds text. A network child's lines reach the
        log through its monitor (a message, then the monitor's write), so
        they may land after the client has already seen what they describe."""
        try:
            wait_for(lambda: text in self.log(), timeout=timeout, what=f"{text!r} in the log")
        except AssertionError:
            raise AssertionError(f"{text!r} not in the log:\n{self.log()[-4000:]}") from None

    def log_bytes(self, start=0):
        with open(self.logpath, "rb") as f:
            f.seek(start)
            return f.read()

    def assert_no_sanitizer_report(self):
        text = self.log()
        for mark in SANITIZER_MARKS:
            assert mark not in text, text[text.index(mark) - 200:][:4000]

    def ctl(self, *args, check=False):
        r = subprocess.run([CTL, "-S", self.sock, *args], capture_output=True, text=True, timeout=60)
        if check:
            assert r.returncode == 0, r.stderr
        return r

    def add(self, exec_id, *args, key=None, check=True):
        argv = ["add", exec_id, *args]
        if key:
            argv += ["--key-file", key.pub]
        return self.ctl(*argv, check=check)

    def sessions(self, exec_id=None):
        r = self.ctl("sessions", *([exec_id] if exec_id else []), "--json", check=True)
        return json.loads(r.stdout)["sessions"]


class Key:
    def __init__(self, d, name, kind="ed25519"):
        self.path = os.path.join(d, name)
        self.pub = self.path + ".pub"
        extra = ["-b", "3072"] if kind == "rsa" else []
        subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", f"{name}@test",
                        "-f", self.path], check=True)

    def line(self):
        with open(self.pub) as f:
            return f.read().strip()


def ctl_raw(daemon, request, timeout=30):
    """One raw control request, as any program may send it: bypasses
    peon-sshctl's own checks. Returns the daemon's reply object."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(daemon.sock)
        s.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


def ed25519_lines(n, comment="bulk"):
    """n fresh ed25519 public keys as authorized_keys lines, quickly."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    out = []
    for i in range(n):
        pub = Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        out.append(f"{pub.decode()} {comment}-{i}")
    return out


def bulk_add(daemon, n, keys_each, prefix="bulk"):
    """Register n host executions with keys_each keys each on the default port."""
    lines = ed25519_lines(n * keys_each)
    for i in range(n):
        r = ctl_raw(daemon, {"cmd": "add", "id": f"{prefix}-{i}", "target": {"type": "host"},
                             "user": "root", "keys": lines[i * keys_each:(i + 1) * keys_each]})
        assert r["ok"], r


def ssh_argv(key, port, *cmd, user="root", tty=False, opts=(), more_keys=()):
    # OpenSSH keeps the first value given for an option: callers' opts first.
    argv = ["ssh", "-F", "/dev/null"]
    for o in opts:
        argv += ["-o", o]
    for k in (key, *more_keys):
        argv += ["-i", k.path]
    argv += ["-p", str(port), "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"]
    if tty:
        argv.append("-tt")
    return argv + [f"{user}@127.0.0.1", *cmd]


def ssh(key, port, *cmd, input=None, timeout=60, text=True, **kw):
    return subprocess.run(ssh_argv(key, port, *cmd, **kw), input=input, capture_output=True,
                          text=text, timeout=timeout)


def ssh_agent(tmp_path, *keys_to_add):
    """A running ssh-agent holding keys_to_add: (process, socket path)."""
    sock = str(tmp_path / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    wait_for(lambda: os.path.exists(sock), what="ssh-agent")
    for key in keys_to_add:
        subprocess.run(["ssh-add", key.path], env={"SSH_AUTH_SOCK": sock}, check=True, capture_output=True)
    return agent, sock


def chan_read_until(chan, marker, timeout=20):
    """A paramiko channel's output until marker (bytes) or EOF, as text.
    Reads with a timeout, not select(): a channel's fileno() makes a pipe
    its transport thread can race with close()."""
    chan.settimeout(1)
    out, end = b"", time.monotonic() + timeout
    while marker not in out and time.monotonic() < end:
        try:
            data = chan.recv(65536)
        except socket.timeout:
            continue
        if not data:
            break
        out += data
    return out.decode(errors="replace")


def paramiko_client(daemon, key, user="root"):
    """A connected paramiko client (host key not checked)."""
    import paramiko
    c = paramiko.SSHClient()
    c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    c.connect("127.0.0.1", daemon.port, username=user, key_filename=key.path, look_for_keys=False,
              allow_agent=False, timeout=10)
    return c


@pytest.fixture(scope="session")
def hostkeys(tmp_path_factory):
    """Generate host keys once; each daemon gets a copy."""
    d = tmp_path_factory.mktemp("hostkeys")
    keydir = str(d / "keys")
    conf = d / "c.conf"
    conf.write_text(f'host_key_dir = "{keydir}";\nruntime_dir = "{d}/run";\n'
                    f'peon_config = "{d}/none";\nlisten_address = ["127.0.0.1"];\n')
    p = subprocess.Popen([SSHD, "-f", str(conf), "-d"], stderr=subprocess.DEVNULL)
    try:
        # RSA 3072 generation takes seconds on a busy 2-core machine.
        wait_for(lambda: os.path.exists(f"{d}/run/control.sock"), timeout=90, what="first start")
    finally:
        # Never leave this daemon behind, even when it did not come up.
        p.terminate()
        p.wait(timeout=10)
    return keydir


@pytest.fixture
def daemon(tmp_path, hostkeys):
    d = Daemon(str(tmp_path), hostkeys).start()
    yield d
    d.stop()


@pytest.fixture
def keys(tmp_path):
    made = {}

    def make(name, kind="ed25519"):
        if name not in made:
            made[name] = Key(str(tmp_path), name, kind)
        return made[name]
    return make


@pytest.fixture(scope="session")
def jobroot():
    # Not under pytest's 0700 temp tree: a job in a user namespace runs as
    # host uid 100000 and must be able to reach its root.
    d = tempfile.mkdtemp(prefix="peon-jobroot-")
    os.chmod(d, 0o755)
    yield os.path.join(d, "root")
    shutil.rmtree(d, ignore_errors=True)


def cgroup_dirs(name):
    """Every directory named `name` below a cgroup mount (to clean up)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            if parts[sep + 1] in ("cgroup", "cgroup2"):
                for dirpath, dirnames, _ in os.walk(parts[4]):
                    if name in dirnames:
                        found.append(os.path.join(dirpath, name))
                    if dirpath.count("/") > 8:
                        dirnames[:] = []
    return found


def remove_cgroup_trees(name):
    """An engine's cgroup parent `name`, emptied bottom up once its
    containers are gone (Podman's conmon has a cgroup of its own inside)."""
    for top in sorted(cgroup_dirs(name), reverse=True):
        for dirpath, _, _ in os.walk(top, topdown=False):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


@pytest.fixture
def job(jobroot):
    """Factory: job(hostname=..., env=[...], ...) -> host pid of the job's pid 1."""
    started = []

    def make(**opts):
        cg = "peon-test-" + uuid.uuid4().hex[:8]
        argv = [MKJOB, "--root", jobroot, "--cgroup", cg]
        for k, v in opts.items():
            flag = "--" + k.replace("_", "-")
            if v is True:
                argv.append(flag)
            elif isinstance(v, (list, tuple)):
                for item in v:
                    argv += [flag, item]
            else:
                argv += [flag, str(v)]
        pid = int(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
        started.append((pid, cg))
        return pid

    yield make
    for pid, cg in started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # A job's other processes (sessions' shells) die with its pid 1 but not
    # at once: retry every directory, in rounds, for a bounded while (one
    # directory at a time used to give up on the first ones tried, and
    # left empty cgroups behind).
    left = [d for _, cg in started for d in sorted(cgroup_dirs(cg), reverse=True)]
    deadline = time.monotonic() + 10
    while left and time.monotonic() < deadline:
        for d in list(left):
            try:
                os.rmdir(d)
                left.remove(d)
            except FileNotFoundError:
                left.remove(d)
            except OSError:
                pass
        if left:
            time.sleep(0.05)


@pytest.fixture(scope="session")
def docker_engine():
    """One dockerd of the tests' own for the session (tests/integration/dockerd.py)."""
    from dockerd import remove_engine, start_engine
    engine = start_engine()
    yield engine
    remove_engine(engine)
    remove_cgroup_trees("peon-test-docker")


def containers_of(engine):
    """Factory: make(*run_options) -> (name, full id); removed after the test."""
    made = []

    def make(*opts, cmd=("sh", "-c", "sleep 100000")):
        name = "peon-" + uuid.uuid4().hex[:10]
        cid = engine.run(name, *opts, cmd=cmd)
        made.append(name)
        return name, cid

    yield make
    if made:
        engine.remove(*made)


@pytest.fixture
def container(docker_engine):
    """Factory: container(*docker_run_options) -> (name, full id)."""
    yield from containers_of(docker_engine)


@pytest.fixture(scope="session")
def podman_engine():
    """One Podman service of the tests' own for the session (tests/integration/podman.py)."""
    from podman import CGROUP_PARENT, remove_engine, start_engine
    engine = start_engine()
    yield engine
    remove_engine(engine)
    remove_cgroup_trees(CGROUP_PARENT)


@pytest.fixture
def podman_container(podman_engine):
    """Factory like `container`, for Podman."""
    yield from containers_of(podman_engine)


def docker_conf(engine, cid=None):
    """The config lines that point a daemon at the tests' engine."""
    conf = f'docker = {{ socket = "{engine.sock}"; }};\n'
    if cid:
        state = engine.state_dir(cid)
        conf = (f'docker = {{ socket = "{engine.sock}"; state_dir = "{state}/moby"; }};\n'
                f'containerd = {{ state_dir = "{state}"; }};\n')
    return conf
