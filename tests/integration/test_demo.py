"""`make demo` (scripts/demo): refuses early without root, and at SIGTERM
leaves nothing behind: no directory, process, cgroup or listening port."""
import os
import re
import signal
import subprocess
import tempfile
import uuid

from conftest import ROOT, cgroup_dirs, free_port, wait_for

DEMO = os.path.join(ROOT, "scripts", "demo")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_demo_without_root_says_so_before_anything(tmp_path):
    parent = tempfile.mkdtemp(prefix="peon-demo-test-")
    os.chmod(parent, 0o777)
    demo_dir = os.path.join(parent, "demo")
    try:
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", DEMO],
                           env={**os.environ, "PEON_DEMO_DIR": demo_dir}, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 1
        assert r.stderr == ("demo: needs root (run it with sudo): entering a job's namespaces and cgroups "
                            "needs it\n")
        assert os.listdir(parent) == []
    finally:
        os.rmdir(parent)


def test_demo_sigterm_removes_everything(tmp_path):
    port = free_port()
    cg = "peon-demo-test-" + uuid.uuid4().hex[:8]
    demo_dir = str(tmp_path / "demo")
    out = tmp_path / "demo.out"
    env = {**os.environ, "DEBUG_PORT": str(port), "PEON_DEMO_DIR": demo_dir, "PEON_DEMO_CGROUP": cg}
    with open(out, "w") as f:
        p = subprocess.Popen([DEMO], env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: "Ctrl-C here stops the demo" in out.read_text() or p.poll() is not None,
                 timeout=60, what="the demo to be ready")
        text = out.read_text()
        assert p.poll() is None, text
        job = int(re.search(r"a demo job runs as pid (\d+)", text).group(1))
        daemons = [int(x) for x in set(re.findall(r"peon-sshd\[(\d+)\]", text))]
        assert alive(job) and daemons and all(alive(d) for d in daemons)
        assert cgroup_dirs(cg), "the demo's job has no cgroup of its own"
        assert os.path.isdir(demo_dir)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0, out.read_text()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert not os.path.exists(demo_dir)
    assert cgroup_dirs(cg) == []
    assert not alive(job)
    assert not any(alive(d) for d in daemons)
    r = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True)
    assert r.stdout.strip() == ""
    assert "could not remove" not in out.read_text()
