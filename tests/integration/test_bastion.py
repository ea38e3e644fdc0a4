"""The admin guide's recipe for workers behind NAT (docs/admin-guide.md,
"Workers behind NAT: a bastion and ProxyJump"), run as written: an OpenSSH
bastion of the test's own, a worker whose peon-sshd listens only on an
address the client is not given (127.0.0.3 stands for the private network),
and an ssh_config with one identity per hop. Each hop takes only its own
key; the execution log's connect line for a NAT worker names the private
address. Not simulated: real unreachability (everything is loopback)."""
import os
import subprocess

import pytest

from conftest import Daemon, free_port, wait_for

WORKER_ADDR = "127.0.0.3"


@pytest.fixture
def bastion(tmp_path, keys):
    """An OpenSSH sshd that admits only the bastion key and forwards only to
    the worker's port (PermitOpen)."""
    port = free_port()
    d = tmp_path / "bastion-host"
    d.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "hostkey")], check=True)
    k = keys("bastion-key")
    (d / "authorized_keys").write_text(open(k.pub).read())
    os.makedirs("/run/sshd", exist_ok=True)

    def start(worker_port):
        conf = d / "sshd_config"
        conf.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nUsePAM no\n"
                        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                        f"AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPidFile none\n"
                        "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\n"
                        f"PermitOpen {WORKER_ADDR}:{worker_port}\nLogLevel ERROR\nUseDNS no\n")
        proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=open(d / "sshd.log", "w"))
        started.append(proc)

        def up():
            r = subprocess.run(["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, text=True)
            return "ssh-ed25519" in r.stdout
        wait_for(up, 20, what="the bastion's sshd")
        return port, k

    started = []
    assert os.path.exists("/usr/sbin/sshd"), "no OpenSSH server: scripts/install-deps installs openssh-server"
    yield start
    for p in started:
        p.terminate()
        p.wait(timeout=10)


def client_config(path, bastion_port, bastion_key, worker_port, exec_key):
    """The guide's ~/.ssh/config, with the test's addresses and keys."""
    path.write_text(
        "Host peon-bastion\n"
        "    HostName 127.0.0.1\n"
        f"    Port {bastion_port}\n"
        "    User root\n"
        f"    IdentityFile {bastion_key.path}\n"
        "    IdentitiesOnly yes\n"
        "Host exec-nat\n"
        f"    HostName {WORKER_ADDR}\n"
        f"    Port {worker_port}\n"
        "    User exec-nat\n"
        f"    IdentityFile {exec_key.path}\n"
        "    IdentitiesOnly yes\n"
        "    ProxyJump peon-bastion\n"
        "Host *\n"
        "    BatchMode yes\n"
        "    StrictHostKeyChecking no\n"
        "    UserKnownHostsFile /dev/null\n"
        "    LogLevel ERROR\n"
        "    ConnectTimeout 10\n")
    return str(path)


def test_proxyjump_with_one_identity_per_hop(tmp_path, hostkeys, keys, bastion, job):
    pid = job(hostname="nat-job")
    d = Daemon(str(tmp_path / "worker"), hostkeys, advertise=False)
    # The worker listens on its private address only, and says so.
    d.write_conf(f'listen_address = ["{WORKER_ADDR}"];\nadvertise_address = "{WORKER_ADDR}";\n')
    with open(d.conf) as f:
        text = f.read().replace('listen_address = ["127.0.0.1"];\n', "", 1)
    with open(d.conf, "w") as f:
        f.write(text)
    d.start()
    try:
        exec_key = keys("exec")
        logf = str(tmp_path / "exec.log")
        d.add("exec-nat", "--pid", str(pid), "--log-file", logf, key=exec_key)
        bport, bkey = bastion(d.port)
        cfg = client_config(tmp_path / "ssh_config", bport, bkey, d.port, exec_key)
        # The connect line names the worker's private address: the one the
        # ProxyJump recipe puts in HostName.
        log = open(logf).read()
        assert f"-p {d.port} -t {WORKER_ADDR} " in log, log
        # Its known_hosts line is what the client checks through the hop too.
        line = log.split("known_hosts line: ", 1)[1].split(")\n", 1)[0]
        assert line.startswith(f"[{WORKER_ADDR}]:{d.port} "), line
        scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(bport), "127.0.0.1"], capture_output=True,
                              text=True, check=True).stdout
        known = tmp_path / "known_hosts"
        known.write_text(scan + line + "\n")
        with open(cfg) as f:
            text = f.read().replace("StrictHostKeyChecking no", "StrictHostKeyChecking yes")
        with open(cfg, "w") as f:
            f.write(text.replace("UserKnownHostsFile /dev/null", f"UserKnownHostsFile {known}"))
        r = subprocess.run(["ssh", "-F", cfg, "exec-nat", "hostname"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "nat-job", r.stdout
        # scp through the same hop (what an IDE's file sync does).
        src = tmp_path / "up.txt"
        src.write_text("through the bastion\n")
        r = subprocess.run(["scp", "-F", cfg, "-q", str(src), "exec-nat:/tmp/up.txt"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["ssh", "-F", cfg, "exec-nat", "cat", "/tmp/up.txt"], capture_output=True, text=True,
                           timeout=60)
        assert r.stdout == "through the bastion\n", (r.stdout, r.stderr)
        # One identity per hop: the execution's key does not open the
        # bastion, and the bastion's key does not open the execution.
        swapped = client_config(tmp_path / "swapped", bport, exec_key, d.port, exec_key)
        r = subprocess.run(["ssh", "-F", swapped, "exec-nat", "true"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 255 and "Permission denied" in r.stderr, r.stderr
        swapped = client_config(tmp_path / "swapped2", bport, bkey, d.port, bkey)
        r = subprocess.run(["ssh", "-F", swapped, "exec-nat", "true"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 255 and "Permission denied" in r.stderr, r.stderr
        # Not reachable except through the bastion: nothing listens for the
        # execution on the public side (127.0.0.1 stands for it here).
        r = subprocess.run(["ssh", "-F", "/dev/null", "-i", exec_key.path, "-o", "IdentitiesOnly=yes",
                            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                            "-o", "UserKnownHostsFile=/dev/null", "-p", str(d.port), "exec-nat@127.0.0.1", "true"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 255 and "Connection refused" in r.stderr, r.stderr
    finally:
        d.stop()
