"""A Podman service of the tests' own, on its own socket.

Podman answers the Docker Engine API on its socket (`podman system service`),
so peon-sshd reaches its containers through `docker.socket` and the same
code as for dockerd. Everything it keeps is under one temporary directory:
storage (vfs: no overlay mounts to undo), run root, events file and socket;
containers go under the cgroup `peon-test-podman` and run with --network
none. The podman CLI the tests use works on the same storage directly.
"""

import os
import shutil
import subprocess
import tempfile

from dockerd import IMAGE, Engine

CGROUP_PARENT = "peon-test-podman"


class PodmanEngine(Engine):
    def __init__(self, base):
        self.base = base
        self.sock = os.path.join(base, "podman.sock")
        self.logpath = os.path.join(base, "service.log")
        self.proc = None
        self.env = None
        self.globals = ["--root", os.path.join(base, "root"), "--runroot", os.path.join(base, "run"),
                        "--tmpdir", os.path.join(base, "tmp"), "--storage-driver", "vfs",
                        "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def start(self):
        exe = shutil.which("podman")
        assert exe, "no podman: scripts/install-deps installs it for the tests"
        os.makedirs(os.path.join(self.base, "tmp"))
        return self._serve([exe, *self.globals, "system", "service", "--time=0", f"unix://{self.sock}"],
                           "podman system service")

    def cli(self):
        """The podman CLI on the same storage; it takes docker's commands."""
        return ["podman", *self.globals]

    def run(self, name, *opts, cmd=("sh", "-c", "sleep 100000")):
        """A detached container with no network; returns its full id. Podman
        asks for the highest nofile and nproc limits by default, which a
        runner without CAP_SYS_RESOURCE cannot grant: ask for modest ones."""
        out = self.docker("run", "-d", "--name", name, "--network", "none", "--cgroup-parent", CGROUP_PARENT,
                          "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", *opts, IMAGE,
                          *cmd).stdout
        return out.strip()

    def remove(self, *names):
        """Podman's rm -f stops first, waiting 10 s for a pid 1 that ignores
        SIGTERM (a shell or a sleep does): kill at once, as docker does."""
        return self.docker("rm", "-f", "-t", "0", *names, check=False)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.remove("-a")
            self._end_service()
        self.proc = None


def start_engine():
    base = tempfile.mkdtemp(prefix="peon-podman-")
    return PodmanEngine(base).start()


def remove_engine(engine):
    engine.stop()
    subprocess.run(["umount", "-R", engine.base], capture_output=True)
    shutil.rmtree(engine.base, ignore_errors=True)
