#!/usr/bin/python3
"""Side by side: `ssh true` against peon-sshd daemons built from several trees.

    tests/bench/ab.py [--n 60] TREE [TREE...]

Each TREE is a checkout with `make` run in it (its build/peon-sshd and
build/peon-sshctl are used). bench.py's setup makes the user, keys and job;
every daemon gets a host execution and one into that same job, and the
connections are interleaved (tree 1 host, tree 1 job, tree 2 host, ...), so
a busy machine slows every tree alike, which alternating whole runs does not
ensure. Each daemon runs in a cpuacct cgroup of its own: the server CPU per
connection (the daemon, its monitors and network children, the spare that
replaces the one taken; not the job's shells, which join the job's cgroups)
is printed beside the times. Loopback only; as root.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

CPUACCT = "/sys/fs/cgroup/cpuacct"


class Tree:
    def __init__(self, b, root, tag):
        self.root, self.tag = os.path.abspath(root), tag
        d = os.path.join(b.dir, tag)
        os.makedirs(d)
        conf = os.path.join(d, "peon-sshd.conf")
        with open(conf, "w") as f:
            f.write(f'peon_config = "{d}/peon.config";\nlisten_address = ["127.0.0.1"];\n'
                    f'host_key_dir = "{b.dir}/hostkeys";\nruntime_dir = "{d}/run";\n'
                    'advertise_address = "127.0.0.1";\nlog_level = "warning";\n'
                    'limits = { max_startups = 1024; per_source_max_startups = 0; max_connections = 4096; };\n'
                    'algorithms = { host_keys = "ssh-ed25519"; };\n')
        host_port, job_port = bench.free_port(), bench.free_port()
        with open(f"{d}/peon.config", "w") as f:
            f.write(f"DEBUG_PORT={host_port}\n")
        self.cg = f"{CPUACCT}/peon-ab-{tag}-{os.getpid()}" if os.path.isdir(CPUACCT) else None
        if self.cg:
            os.makedirs(self.cg, exist_ok=True)
        self.proc = subprocess.Popen([os.path.join(self.root, "build", "peon-sshd"), "-f", conf],
                                     stdout=open(os.path.join(d, "log"), "w"), stderr=subprocess.STDOUT,
                                     preexec_fn=self.enter_cgroup)
        sock = f"{d}/run/control.sock"
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        ctl = os.path.join(self.root, "build", "peon-sshctl")
        subprocess.run([ctl, "-S", sock, "add", "h", "--host", "--user", bench.USER,
                        "--key-file", b.key + ".pub"], check=True, capture_output=True)
        subprocess.run([ctl, "-S", sock, "add", "j", "--pid", str(b.job), "--port", str(job_port),
                        "--key-file", b.key + ".pub"], check=True, capture_output=True)
        self.servers = [bench.Server(f"{tag} host", host_port, None), bench.Server(f"{tag} job", job_port, None)]

    def enter_cgroup(self):
        if self.cg:
            with open(os.path.join(self.cg, "cgroup.procs"), "w") as f:
                f.write("0")

    def cpu_ns(self):
        if not self.cg:
            return 0
        with open(os.path.join(self.cg, "cpuacct.usage")) as f:
            return int(f.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def remove_cgroup(self):
        for _ in range(50):
            try:
                if self.cg:
                    os.rmdir(self.cg)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=60, help="rounds (each: one connection per daemon and row)")
    ap.add_argument("trees", nargs="+")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("ab.py: run as root (bench.py's setup needs it)")
    b = bench.Bench(argparse.Namespace(quick=True))
    trees = []
    try:
        b.setup()
        trees = [Tree(b, root, f"t{i}") for i, root in enumerate(a.trees)]
        time.sleep(1)

        def one(s):
            t = time.perf_counter()
            r = subprocess.run(b.ssh(s, "true"), capture_output=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError(f"{s.name}: {r.stderr.decode()[:200]}")
            return (time.perf_counter() - t) * 1000

        for t in trees:
            for s in t.servers:
                one(s)
        ms = {s.name: [] for t in trees for s in t.servers}
        cpu = {s.name: 0 for t in trees for s in t.servers}
        for _ in range(a.n):
            for t in trees:
                for s in t.servers:
                    before = t.cpu_ns()
                    ms[s.name].append(one(s))
                    time.sleep(0.03)        # the monitor's end and the spare's refill fall inside
                    cpu[s.name] += t.cpu_ns() - before
        for t in trees:
            print(t.tag, t.root)
        for name, v in ms.items():
            print(f"{name:8s} ssh true median {statistics.median(v):7.2f} ms (min {min(v):6.2f})  "
                  f"server CPU {cpu[name] / len(v) / 1e6:6.2f} ms/connection")
    finally:
        for t in trees:
            t.stop()
        b.teardown()
        for t in trees:
            t.remove_cgroup()


if __name__ == "__main__":
    main()
