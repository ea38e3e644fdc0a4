"""A Docker engine of the tests' own, never the machine's.

dockerd is started with its own data-root, exec-root, pidfile and socket,
and with no bridge and no iptables rules, so nothing of the host's network
or of an engine already running is touched; it is stopped (its containers
removed first) when the test session ends. Images are `docker import`s of
a local busybox root; containers run with --network none.

The docker CLI drives the engine here, as a job controller would: peon-sshd
itself only ever speaks the Engine API."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

BUSYBOX = "/bin/busybox"
SYSCALL_PROBE = os.path.join(os.path.dirname(__file__), "..", "..", "build", "syscall-probe")
IMAGE = "peon-test-busybox:1"


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def busybox_root(path):
    """A minimal image root: static busybox, its applets, a user 1000."""
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "home/u", "root"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    shutil.copy(BUSYBOX, os.path.join(path, "bin/busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        if a != "busybox" and "/" not in a:
            os.symlink("busybox", os.path.join(path, "bin", a))
    with open(os.path.join(path, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000:u:/home/u:/bin/sh\n")
    with open(os.path.join(path, "etc/group"), "w") as f:
        f.write("root:x:0:\nu:x:1000:\nextra:x:1001:u\n")
    os.chown(os.path.join(path, "home/u"), 1000, 1000)
    shutil.copy(SYSCALL_PROBE, os.path.join(path, "bin/syscall-probe"))


class Engine:
    """What the Docker and Podman engines of the tests share: a service on
    a unix socket started as start_new_session, the busybox image, and the
    docker-style CLI in self.cli()."""

    def _serve(self, argv, what):
        self.logf = open(self.logpath, "w")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: self.proc.poll() is not None or self.ping(), 60, what)
        except AssertionError:
            self.stop()
            raise
        assert self.proc.poll() is None, self.log()
        root = os.path.join(self.base, "rootfs")
        busybox_root(root)
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        self.docker("import", "-", IMAGE, stdin=tar.stdout)
        tar.wait()
        return self

    def ping(self):
        r = subprocess.run(["curl", "-sf", "--unix-socket", self.sock, "http://engine/_ping"],
                           capture_output=True, text=True)
        return r.returncode == 0

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def docker(self, *args, stdin=None, check=True, timeout=60):
        argv = self.cli() + list(args)
        r = subprocess.run(argv, capture_output=True, text=True, env=self.env, stdin=stdin, timeout=timeout)
        if check:
            assert r.returncode == 0, f"{argv[0]} {' '.join(args)}: {r.stderr}"
        return r

    def remove(self, *names):
        """Remove containers whether running or not; docker's rm -f kills at once."""
        return self.docker("rm", "-f", *names, check=False)

    def inspect(self, name):
        return json.loads(self.docker("inspect", name).stdout)[0]

    def pid(self, name):
        return self.inspect(name)["State"]["Pid"]

    def _end_service(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class DockerEngine(Engine):
    def __init__(self, base):
        self.base = base
        self.sock = os.path.join(base, "docker.sock")
        self.exec_root = os.path.join(base, "exec")
        self.data_root = os.path.join(base, "data")
        self.logpath = os.path.join(base, "dockerd.log")
        self.proc = None
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}")

    def start(self):
        exe = shutil.which("dockerd")
        assert exe, "no dockerd: scripts/install-deps installs docker.io where no Docker engine is present"
        return self._serve(
            [exe, "--data-root", self.data_root, "--exec-root", self.exec_root,
             "--pidfile", os.path.join(self.base, "dockerd.pid"), "-H", f"unix://{self.sock}",
             "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
             "--ip-masq=false", "--cgroup-parent", "peon-test-docker"], "dockerd")

    def cli(self):
        return ["docker"]

    def run(self, name, *opts, cmd=("sh", "-c", "sleep 100000")):
        """A detached container with no network; returns its full id."""
        out = self.docker("run", "-d", "--name", name, "--network", "none", *opts, IMAGE, *cmd).stdout
        return out.strip()

    def state_dir(self, cid):
        """Where this engine's containerd keeps the task of cid: its own
        containerd (under our exec-root) or a system one it found."""
        for d in (os.path.join(self.exec_root, "containerd/daemon/io.containerd.runtime.v2.task"),
                  "/run/containerd/io.containerd.runtime.v2.task"):
            if os.path.exists(os.path.join(d, "moby", cid, "config.json")):
                return d
        raise AssertionError(f"no containerd task directory holds container {cid}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            r = self.docker("ps", "-aq", check=False)
            ids = r.stdout.split()
            if ids:
                self.remove(*ids)
            self._end_service()
        self.proc = None


def start_engine():
    base = tempfile.mkdtemp(prefix="peon-dockerd-")
    return DockerEngine(base).start()


def remove_engine(engine):
    engine.stop()
    subprocess.run(["umount", "-R", engine.exec_root], capture_output=True)
    shutil.rmtree(engine.base, ignore_errors=True)
