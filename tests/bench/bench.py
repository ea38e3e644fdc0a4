#!/usr/bin/python3
"""make bench: peon-sshd against OpenSSH's sshd and dropbear, on 127.0.0.1 only.

Every figure runs the servers in turn (A B C A B C ...) for several rounds and
reports median and min-max, plus the ratio peon/OpenSSH computed round by
round. Same OpenSSH client, same client key, same host key, curve25519-sha256.
Writes a markdown table to stdout and JSON to bench/results/.
"""
import argparse
import json
import os
import pty
import pwd
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SSHD = os.path.join(ROOT, "build", "peon-sshd")
CTL = os.path.join(ROOT, "build", "peon-sshctl")
MKJOB = os.path.join(ROOT, "scripts", "mkjob")
USER = "peonbench"
KEX = "curve25519-sha256"
GiB = 1 << 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def listening(port, timeout=10):
    """Wait for a LISTEN socket on port without connecting to it."""
    want = f":{port:04X} "
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    parts = line.split()
                    if parts[1].endswith(want.strip()) and parts[3] == "0A":
                        return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


class Server:
    """One server configuration under test."""
    def __init__(self, name, port, exe, proc=None, sink_in_job=None):
        self.name, self.port, self.exe, self.proc = name, port, exe, proc
        self.sink_in_job = sink_in_job      # run the -L sink through ssh inside the job

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="peon-bench-")
        os.chmod(self.dir, 0o755)
        self.servers = []
        self.job = None
        self.results = {"figures": {}, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}

    # ---------- setup ----------
    def setup(self):
        d = self.dir
        home = os.path.join(d, "home")
        os.makedirs(os.path.join(home, ".ssh"))
        subprocess.run(["userdel", USER], capture_output=True)
        # "*" rather than the default "!": OpenSSH without PAM refuses locked accounts.
        subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/sh", "-p", "*", USER], check=True)
        pw = pwd.getpwnam(USER)
        self.key = os.path.join(d, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key], check=True)
        shutil.copy(self.key + ".pub", os.path.join(home, ".ssh", "authorized_keys"))
        for p in (home, os.path.join(home, ".ssh"), os.path.join(home, ".ssh", "authorized_keys")):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(os.path.join(home, ".ssh"), 0o700)
        os.chmod(os.path.join(home, ".ssh", "authorized_keys"), 0o600)
        # One ed25519 host key for every server.
        keys = os.path.join(d, "hostkeys")
        os.makedirs(keys, mode=0o700)
        hk = os.path.join(keys, "ssh_host_ed25519_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hk], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-f",
                        os.path.join(keys, "ssh_host_rsa_key")], check=True)
        self.sink_dir = tempfile.mkdtemp(prefix="peon-bench-", dir="/dev/shm")
        os.chown(self.sink_dir, pw.pw_uid, pw.pw_gid)
        self.start_peon(keys)
        self.start_openssh(hk)
        self.start_dropbear(hk)

    def start_peon(self, keys):
        d = self.dir
        conf = os.path.join(d, "peon-sshd.conf")
        with open(conf, "w") as f:
            f.write(f'peon_config = "{d}/peon.config";\nlisten_address = ["127.0.0.1"];\n'
                    f'host_key_dir = "{keys}";\nruntime_dir = "{d}/run";\nadvertise_address = "127.0.0.1";\n'
                    f'log_level = "warning";\n'
                    # 200 clients at once from one address: no per-source cap (as sshd's default).
                    'limits = { max_startups = 1024; per_source_max_startups = 0; max_connections = 4096; '
                    'max_sessions = 64; };\n'
                    f'algorithms = {{ host_keys = "ssh-ed25519"; }};\n')
        host_port, pid_port = free_port(), free_port()
        with open(f"{d}/peon.config", "w") as f:
            f.write(f"DEBUG_PORT={host_port}\n")
        log = open(os.path.join(d, "peon.log"), "w")
        proc = subprocess.Popen([SSHD, "-f", conf], stdout=log, stderr=log)
        sock = f"{d}/run/control.sock"
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        subprocess.run([CTL, "-S", sock, "add", "bench-host", "--host", "--user", USER,
                        "--key-file", self.key + ".pub"], check=True, capture_output=True)
        # Own namespaces over the host's filesystem: the job runs the same
        # head/cat as the other servers' sessions, so only the server differs.
        # Own cgroups too, as every container has: a shell started in the
        # job is moved into them, which the kernel makes cost an RCU grace
        # period on a cgroup v1 host (docs/performance.md).
        pw = pwd.getpwnam(USER)
        self.cgroup = f"peon-bench-{os.getpid()}"
        self.job = int(subprocess.run([MKJOB, "--hostroot", "--hostname", "bench-job", "--cwd", "/tmp",
                                       "--cgroup", self.cgroup,
                                       "--uid", str(pw.pw_uid), "--gid", str(pw.pw_gid)],
                                      check=True, capture_output=True, text=True).stdout)
        subprocess.run([CTL, "-S", sock, "add", "bench-job", "--pid", str(self.job), "--port", str(pid_port),
                        "--key-file", self.key + ".pub"], check=True, capture_output=True)
        self.servers.append(Server("peon-sshd (host)", host_port, SSHD, proc))
        self.servers.append(Server("peon-sshd (job)", pid_port, SSHD, None, sink_in_job=True))

    def start_openssh(self, hk):
        d = self.dir
        port = free_port()
        os.makedirs("/run/sshd", exist_ok=True)
        conf = os.path.join(d, "sshd_config")
        with open(conf, "w") as f:
            f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nUsePAM no\n"
                    f"PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
                    f"AuthorizedKeysFile {d}/home/.ssh/authorized_keys\nStrictModes no\n"
                    "Subsystem sftp internal-sftp\nPidFile none\nMaxStartups 1024\nMaxSessions 64\n"
                    "LogLevel ERROR\nUseDNS no\nAllowTcpForwarding yes\nPrintMotd no\n")
        proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", conf],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "sshd.log"), "w"))
        wait_port(port)
        self.servers.append(Server("OpenSSH sshd", port, "/usr/sbin/sshd", proc))

    def start_dropbear(self, hk):
        d = self.dir
        port = free_port()
        dkey = os.path.join(d, "dropbear_ed25519")
        subprocess.run(["dropbearconvert", "openssh", "dropbear", hk, dkey], check=True, capture_output=True)
        proc = subprocess.Popen(["/usr/sbin/dropbear", "-F", "-E", "-s", "-p", f"127.0.0.1:{port}", "-r", dkey,
                                 "-P", os.path.join(d, "dropbear.pid"), "-W", "2097152"],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "dropbear.log"), "w"))
        wait_port(port)
        self.servers.append(Server("dropbear", port, "/usr/sbin/dropbear", proc))

    def start_load(self, n):
        """n CPU-bound loops at the servers' priority, each in a session of its
        own (killed by group in teardown) and ended by timeout(1) after an
        hour whatever happens to this script."""
        self.load = []
        for _ in range(n):
            self.load.append(subprocess.Popen(["timeout", "3600", "sh", "-c", "while :; do :; done"],
                                              start_new_session=True))
        if n:
            self.results["load"] = n

    def teardown(self):
        for p in getattr(self, "load", []):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        for s in self.servers:
            s.stop()
        if self.job:
            try:
                os.kill(self.job, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["pkill", "-u", USER], capture_output=True)
        time.sleep(0.2)
        self.remove_cgroups()
        subprocess.run(["userdel", USER], capture_output=True)
        shutil.rmtree(self.sink_dir, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def remove_cgroups(self):
        """The job's cgroup directories, deepest first, once they are empty."""
        name = getattr(self, "cgroup", None)
        if not name:
            return
        with open("/proc/self/mountinfo") as f:
            mounts = [p[4] for p in (line.split() for line in f) if p[p.index("-") + 1] in ("cgroup", "cgroup2")]
        for m in mounts:
            for dirpath, dirnames, _ in os.walk(m, topdown=False):
                if os.path.basename(dirpath) == name:
                    for _ in range(50):
                        try:
                            os.rmdir(dirpath)
                            break
                        except FileNotFoundError:
                            break
                        except OSError:
                            time.sleep(0.1)

    # ---------- client helpers ----------
    def ssh(self, srv, *cmd, cipher=None, tty=False, extra=()):
        argv = ["ssh", "-F", "/dev/null", "-i", self.key, "-p", str(srv.port), "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", f"KexAlgorithms={KEX}", "-o", "HostKeyAlgorithms=ssh-ed25519"]
        if cipher:
            argv += ["-c", cipher]
        if tty:
            argv.append("-tt")
        return argv + list(extra) + [f"{USER}@127.0.0.1", *cmd]

    def cipher_used(self, srv, cipher):
        r = subprocess.run(self.ssh(srv, "true", cipher=cipher, extra=["-v"]), capture_output=True, text=True)
        for line in r.stderr.splitlines():
            if "kex: server->client cipher:" in line:
                return line.split("cipher:")[1].split()[0]
        return None

    # ---------- figures ----------
    def rounds(self, n, fn):
        """Run fn(server) for each server, n rounds, alternating. -> {name: [values]}"""
        out = {s.name: [] for s in self.servers}
        for _ in range(n):
            for s in self.servers:
                try:
                    v = fn(s)
                except Exception as e:          # noqa: BLE001 - a server may lack a feature
                    print(f"  {s.name}: {e}", file=sys.stderr)
                    v = None
                if v is not None:
                    out[s.name].append(v)
        return out

    def fig_true(self):
        def one(s):
            t = time.perf_counter()
            r = subprocess.run(self.ssh(s, "true"), capture_output=True)
            if r.returncode != 0:
                raise RuntimeError(r.stderr.decode()[:200])
            return (time.perf_counter() - t) * 1000
        self.record("ssh true (ms)", self.rounds(self.args.n_true, one), lower_better=True)

    def fig_exec_throughput(self):
        size = self.args.size
        for cipher in ("aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"):
            def up(s, c=cipher):
                t = time.perf_counter()
                src = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
                r = subprocess.run(self.ssh(s, "cat > /dev/null", cipher=c), stdin=src.stdout, capture_output=True)
                src.stdout.close()      # so head gets SIGPIPE if ssh gave up early
                src.kill()
                src.wait()
                if r.returncode != 0:
                    raise RuntimeError(r.stderr.decode()[:200])
                return size / (time.perf_counter() - t) / 1e6

            def down(s, c=cipher):
                t = time.perf_counter()
                p = subprocess.Popen(self.ssh(s, f"head -c {size} /dev/zero", cipher=c), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
                got = 0
                while True:
                    b = p.stdout.read1(1 << 20)
                    if not b:
                        break
                    got += len(b)
                p.wait()
                if got != size:
                    raise RuntimeError(f"received {got} of {size} bytes")
                return size / (time.perf_counter() - t) / 1e6
            used = {s.name: self.cipher_used(s, cipher) for s in self.servers}
            short = cipher.split("@")[0]
            self.record(f"exec upload {short} (MB/s)", self.rounds(self.args.n_bulk, up), ciphers=used)
            self.record(f"exec download {short} (MB/s)", self.rounds(self.args.n_bulk, down), ciphers=used)

    def sftp_dir(self, s):
        return "/tmp" if s.sink_in_job else self.sink_dir

    def fig_sftp(self):
        size = self.args.size
        src = os.path.join(self.sink_dir, "src.bin")
        with open(src, "wb") as f:
            f.truncate(size)
        os.chmod(self.sink_dir, 0o777)

        def batch(s, cmds):
            argv = self.ssh(s)[:-1]
            argv = ["sftp", "-b", "-"] + [a if a != "-p" else "-P" for a in argv[1:]] + [f"{USER}@127.0.0.1"]
            t = time.perf_counter()
            r = subprocess.run(argv, input=cmds, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(r.stderr[:200])
            return size / (time.perf_counter() - t) / 1e6

        def put(s):
            return batch(s, f"put {src} {self.sftp_dir(s)}/put.bin\n")

        def get(s):
            v = batch(s, f"get {self.sftp_dir(s)}/put.bin {self.sink_dir}/got.bin\n")
            os.unlink(f"{self.sink_dir}/got.bin")
            return v
        used = {s.name: self.cipher_used(s, None) for s in self.servers}
        self.record("sftp put (MB/s)", self.rounds(self.args.n_bulk, put), ciphers=used)
        self.record("sftp get (MB/s)", self.rounds(self.args.n_bulk, get), ciphers=used)
        os.unlink(src)

    def fig_forward(self):
        size = self.args.size

        def one(s):
            sink_port = free_port()
            # The same sink everywhere: busybox nc, which accepts exactly one
            # connection, so it is given time to listen rather than probed.
            if s.sink_in_job:
                sink = subprocess.Popen(self.ssh(s, f"busybox nc -l -p {sink_port} > /dev/null"),
                                        stdin=subprocess.DEVNULL)
            else:
                sink = subprocess.Popen(["busybox", "nc", "-l", "-p", str(sink_port)], stdout=subprocess.DEVNULL)
            time.sleep(0.7)
            local = free_port()
            fwd = subprocess.Popen(self.ssh(s, extra=["-N", "-L", f"{local}:127.0.0.1:{sink_port}",
                                                      "-o", "ExitOnForwardFailure=yes"])[:-1] + [f"{USER}@127.0.0.1"])
            try:
                listening(local)
                buf = bytes(1 << 20)
                t = time.perf_counter()
                with socket.create_connection(("127.0.0.1", local)) as c:
                    for _ in range(size >> 20):
                        c.sendall(buf)
                    c.shutdown(socket.SHUT_WR)
                    while c.recv(65536):
                        pass
                return size / (time.perf_counter() - t) / 1e6
            finally:
                fwd.terminate()
                sink.kill()
                fwd.wait()
                sink.wait()
        self.record("ssh -L forward (MB/s)", self.rounds(self.args.n_bulk, one))

    def pss_of(self, exe):
        # peon-sshd's network children run from a memfd: a connection is
        # its monitor (the daemon's executable) plus that child.
        exes = {exe, "/memfd:peon-sshd-net (deleted)"}
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{pid}/exe") not in exes:
                    continue
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
            except OSError:
                continue
        return total

    def fig_memory(self):
        self.openssl_floor()
        for n in self.args.sessions:
            def one(s, n=n):
                base = self.pss_of(s.exe)
                clients = []
                try:
                    for i in range(n):
                        p = subprocess.Popen(self.ssh(s, "sleep 3600", tty=True), stdin=subprocess.PIPE,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        clients.append(p)
                        if i % 10 == 9:     # dropbear refuses more than 30 unauthenticated
                            time.sleep(0.5)
                    time.sleep(3)
                    alive = sum(1 for p in clients if p.poll() is None)
                    if alive < n:
                        raise RuntimeError(f"only {alive} of {n} sessions stayed up")
                    return (self.pss_of(s.exe) - base) / n
                finally:
                    for p in clients:
                        p.kill()
                    for p in clients:
                        p.wait()
                    time.sleep(1)
            self.record(f"idle session PSS, {n} sessions (KiB/session)", self.rounds(1, one), lower_better=True)

    def openssl_floor(self):
        """What a fresh process pays for libssh + OpenSSL 3 before any
        connection: heap after the first key operation and libcrypto's
        RELRO (relocated at load, private to each process). Recorded as
        notes, not figures: OpenSSH's re-exec'd sshd pays them too."""
        exe = os.path.join(self.dir, "openssl_floor")
        src = os.path.join(ROOT, "tests", "bench", "openssl_floor.c")
        subprocess.run(["cc", "-O2", src, "-o", exe, "-lssh"], check=True)
        init, first = map(int, subprocess.run([exe], check=True, capture_output=True, text=True).stdout.split())
        lib = subprocess.run(["sh", "-c", "ldd " + exe + " | awk '/libcrypto/ {print $3}'"],
                             capture_output=True, text=True).stdout.strip()
        relro = 0
        for line in subprocess.run(["readelf", "-lW", lib], capture_output=True, text=True).stdout.splitlines():
            f = line.split()
            if f and f[0] == "GNU_RELRO":
                relro = int(f[5], 16)
        self.results["notes"] = {"openssl_heap_after_ssh_init_kib": round(init / 1024),
                                 "openssl_heap_after_first_key_kib": round(first / 1024),
                                 "libcrypto_relro_kib": round(relro / 1024), "libcrypto": lib}

    def fig_concurrency(self):
        n = self.args.concurrent

        def one(s):
            times, ok = [], 0
            barrier = threading.Barrier(n)

            def client():
                argv = self.ssh(s, "true", extra=["-o", "ConnectTimeout=60"])
                barrier.wait()
                t = time.perf_counter()
                r = subprocess.run(argv, capture_output=True)
                times.append(((time.perf_counter() - t) * 1000, r.returncode == 0))
            threads = [threading.Thread(target=client) for _ in range(n)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            ok = sum(1 for _, good in times if good)
            walls = sorted(w for w, _ in times)
            return {"ok": ok, "p50": walls[len(walls) // 2], "p99": walls[int(len(walls) * 0.99) - 1]}
        res = self.rounds(self.args.n_conc, one)
        self.record(f"{n} at once: succeeded", {k: [v["ok"] for v in vs] for k, vs in res.items()})
        self.record(f"{n} at once: p50 (ms)", {k: [v["p50"] for v in vs] for k, vs in res.items()}, lower_better=True)
        self.record(f"{n} at once: p99 (ms)", {k: [v["p99"] for v in vs] for k, vs in res.items()}, lower_better=True)

    def fig_keystroke(self):
        def one(s):
            pid, fd = pty.fork()
            if pid == 0:
                argv = self.ssh(s, "cat", tty=True)
                os.execvp(argv[0], argv)
            try:
                buf = b""
                end = time.monotonic() + 15
                os.write(fd, b"ready\r")
                while b"ready" not in buf and time.monotonic() < end:     # wait for the remote side
                    if select.select([fd], [], [], 0.5)[0]:
                        buf += os.read(fd, 4096)
                time.sleep(0.3)
                while select.select([fd], [], [], 0.1)[0]:
                    os.read(fd, 4096)
                rtts = []
                for i in range(self.args.keystrokes):
                    ch = b"abcdefghij"[i % 10:i % 10 + 1]
                    t = time.perf_counter()
                    os.write(fd, ch)
                    got = b""
                    while ch not in got:
                        if not select.select([fd], [], [], 5)[0]:
                            raise RuntimeError("no echo")
                        got += os.read(fd, 4096)
                    rtts.append((time.perf_counter() - t) * 1e6)
                return statistics.median(rtts)
            finally:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(fd)
        self.record("keystroke echo, median (µs)", self.rounds(self.args.n_keys, one), lower_better=True)

    # ---------- reporting ----------
    def record(self, title, data, lower_better=False, ciphers=None):
        ref = data.get("OpenSSH sshd", [])
        fig = {"lower_is_better": lower_better, "servers": {}}
        for name, vals in data.items():
            entry = {"values": vals}
            if vals:
                entry.update(median=statistics.median(vals), min=min(vals), max=max(vals))
            if ciphers:
                entry["cipher"] = ciphers.get(name)
            if name.startswith("peon") and vals and ref:
                ratios = [a / b for a, b in zip(vals, ref) if b]
                if ratios:
                    entry["ratio_vs_openssh"] = statistics.median(ratios)
            fig["servers"][name] = entry
        self.results["figures"][title] = fig
        print(f"  done: {title}", file=sys.stderr, flush=True)

    def table(self):
        names = [s.name for s in self.servers]
        lines = ["| figure | " + " | ".join(names) + " | peon(host)/OpenSSH | peon(job)/OpenSSH |",
                 "|---" * (len(names) + 3) + "|"]
        for title, fig in self.results["figures"].items():
            cells = []
            for n in names:
                e = fig["servers"].get(n, {})
                if "median" not in e:
                    cells.append("n/a")
                    continue
                c = f"{e['median']:.4g} ({e['min']:.4g}-{e['max']:.4g})"
                if e.get("cipher"):
                    c += f" [{e['cipher'].split('@')[0]}]"
                cells.append(c)
            rat = []
            for n in ("peon-sshd (host)", "peon-sshd (job)"):
                r = fig["servers"].get(n, {}).get("ratio_vs_openssh")
                rat.append(f"{r:.2f}" if r is not None else "n/a")
            lines.append(f"| {title} | " + " | ".join(cells) + " | " + " | ".join(rat) + " |")
        n = self.results.get("notes")
        if n:
            lines.append("")
            lines.append(f"Per fresh process, before any connection ({n['libcrypto']}): OpenSSL's heap after "
                         f"libssh's first key operation {n['openssl_heap_after_first_key_kib']} KiB "
                         f"(after ssh_init {n['openssl_heap_after_ssh_init_kib']} KiB); libcrypto RELRO "
                         f"{n['libcrypto_relro_kib']} KiB.")
        if self.results.get("load"):
            lines.append("")
            n = self.results["load"]
            lines.append(f"Measured with {n} busy loop{'s' if n != 1 else ''} running on "
                         f"{os.cpu_count()} CPUs (--load).")
        return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes and counts, for a smoke run")
    ap.add_argument("--only", default="", help="comma list: true,exec,sftp,forward,memory,concurrency,keystroke")
    ap.add_argument("--size-mib", type=int, help="bulk transfer size (default 1024)")
    ap.add_argument("--rounds", type=int, help="rounds for bulk figures (default 3)")
    ap.add_argument("--load", type=int, default=0, metavar="N",
                    help="run N busy loops during the figures, as a worker whose jobs hold the CPUs would")
    args = ap.parse_args()
    args.n_true, args.n_bulk, args.n_conc, args.n_keys = 30, 3, 2, 3
    args.size, args.sessions, args.concurrent, args.keystrokes = GiB, (100, 500), 200, 200
    if args.quick:
        args.n_true, args.n_bulk, args.n_conc, args.n_keys = 5, 1, 1, 1
        args.size, args.sessions, args.concurrent, args.keystrokes = 64 << 20, (20,), 30, 30
    if args.size_mib:
        args.size = args.size_mib << 20
    if args.rounds:
        args.n_bulk = args.rounds
    if os.geteuid() != 0:
        sys.exit("bench: run as root (entering namespaces and creating a throwaway user need it)")
    only = set(filter(None, args.only.split(",")))
    if not 0 <= args.load <= 64:
        sys.exit("bench: --load takes 0 to 64 busy loops")
    # SIGTERM and SIGHUP end the run through teardown, as Ctrl-C does: the
    # throwaway user, the servers and any --load loops go with it.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    b = Bench(args)
    t0 = time.monotonic()
    try:
        b.setup()
        b.start_load(args.load)
        for key, fn in (("true", b.fig_true), ("exec", b.fig_exec_throughput), ("sftp", b.fig_sftp),
                        ("forward", b.fig_forward), ("memory", b.fig_memory),
                        ("concurrency", b.fig_concurrency), ("keystroke", b.fig_keystroke)):
            if not only or key in only:
                fn()
    finally:
        b.teardown()
    b.results["seconds"] = round(time.monotonic() - t0, 1)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "results", time.strftime("%Y%m%d-%H%M%S") + ".json")
    with open(out, "w") as f:
        json.dump(b.results, f, indent=2)
    print(b.table())
    print(f"\n{b.results['seconds']} s; JSON: {out}")


if __name__ == "__main__":
    main()
