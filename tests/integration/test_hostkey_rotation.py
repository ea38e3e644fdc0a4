"""Host key rotation (issue 12, part 4): SIGHUP loads new host keys, live
executions' logs get the new known_hosts line, real OpenSSH clients see the
change as the admin guide says, and a bad key file changes nothing."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import ssh_argv, wait_for

HOSTKEY_LINE = re.compile(r"^SSH host key: (\S+) (SHA256:\S+) \(known_hosts line: (.*)\)$")
ED25519 = "ssh_host_ed25519_key"


def host_key_lines(log):
    return [HOSTKEY_LINE.match(l) for l in log.read_text().splitlines() if HOSTKEY_LINE.match(l)]


def known_hosts(tmp_path, name, line):
    kh = tmp_path / name
    kh.write_text(line + "\n")
    return kh


def strict(key, port, kh, *cmd):
    """ssh that trusts only kh, offered only ed25519 (the announced key)."""
    return subprocess.run(ssh_argv(key, port, *cmd, opts=["StrictHostKeyChecking=yes", f"UserKnownHostsFile={kh}",
                                                            "HostKeyAlgorithms=ssh-ed25519"]),
                          capture_output=True, text=True, timeout=30)


def new_key_over(keydir, name=ED25519):
    """The documented procedure: generate beside, then rename over the old file."""
    tmp = os.path.join(keydir, name + ".new")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", tmp], check=True)
    # Of the new public half: -lf on the private file would read the old .pub beside it.
    out = subprocess.run(["ssh-keygen", "-lf", tmp + ".pub"], capture_output=True, text=True, check=True).stdout
    os.rename(tmp, os.path.join(keydir, name))
    os.unlink(tmp + ".pub")
    return out.split()[1]


def status(d):
    return json.loads(d.ctl("status", "--json", check=True).stdout)


def registered(daemon, job, keys, tmp_path, name):
    """An execution named exec-NAME in a job whose hostname is NAME-job,
    logging to a file: (key, log, its one host key line)."""
    k = keys(name)
    log = tmp_path / "execution.log"
    daemon.add(f"exec-{name}", "--pid", str(job(hostname=f"{name}-job")), "--log-file", str(log), key=k)
    (first,) = host_key_lines(log)
    return k, log, first


def test_sighup_rotates_and_announces(daemon, job, keys, tmp_path):
    k, log, first = registered(daemon, job, keys, tmp_path, "rot")
    old_kh = known_hosts(tmp_path, "kh-old", first.group(3))
    assert strict(k, daemon.port, old_kh, "hostname").stdout == "rot-job\n"
    st = status(daemon)
    assert st["version"] == 1 and st["host_key"] == first.group(2)
    assert [h["fingerprint"] for h in st["host_keys"] if h["announced"]] == [first.group(2)]

    # A session open across the rotation: it reads a line after the SIGHUP.
    live = subprocess.Popen(ssh_argv(k, daemon.port, "read x; echo still $x"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(daemon.sessions("exec-rot")) == 1, what="the live session")

    new_fp = new_key_over(daemon.keydir)
    assert new_fp != first.group(2)
    # Before the reload the pinned old key is still what connections get.
    assert strict(k, daemon.port, old_kh, "hostname").returncode == 0
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(host_key_lines(log)) == 2, what="the new host key line in the execution's log")
    text = log.read_text()
    assert "SSH host key changed: new connections are served with this key; sessions already open keep theirs." \
        in text
    second = host_key_lines(log)[1]
    assert second.group(1) == "ssh-ed25519" and second.group(2) == new_fp
    assert second.group(3).startswith(f"[127.0.0.1]:{daemon.port} ssh-ed25519 AAAA")

    new_kh = known_hosts(tmp_path, "kh-new", second.group(3))
    r = strict(k, daemon.port, new_kh, "hostname")
    assert r.returncode == 0 and r.stdout == "rot-job\n", r.stderr
    r = strict(k, daemon.port, old_kh, "hostname")
    assert r.returncode != 0 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in r.stderr, r.stderr

    out, err = live.communicate("hello\n", timeout=30)
    assert live.returncode == 0 and out == "still hello\n", err

    st = status(daemon)
    assert st["host_key"] == new_fp
    announced = [h for h in st["host_keys"] if h["announced"]]
    assert len(announced) == 1 and announced[0]["fingerprint"] == new_fp
    assert announced[0]["path"] == os.path.join(daemon.keydir, ED25519)
    human = daemon.ctl("status", check=True).stdout
    assert re.search(rf"^host keys: +ssh-ed25519 {re.escape(new_fp)} \(announced\)$", human, re.M), human
    assert f"\n{'':22}   {daemon.keydir}/{ED25519}\n" in human, human


def test_bad_key_file_keeps_the_running_keys(daemon, job, keys, tmp_path):
    k, log, first = registered(daemon, job, keys, tmp_path, "bad")
    kh = known_hosts(tmp_path, "kh", first.group(3))
    path = os.path.join(daemon.keydir, ED25519)
    with open(path + ".new", "w") as f:
        f.write("this is not a key\n")
    os.chmod(path + ".new", 0o600)
    os.rename(path + ".new", path)
    before = len(daemon.log())
    daemon.proc.send_signal(signal.SIGHUP)
    want = (f"reload refused, keeping the running configuration and host keys: host key {path} "
            "is not a readable private key")
    wait_for(lambda: want in daemon.log()[before:], what="the refusal")
    assert len(host_key_lines(log)) == 1
    assert status(daemon)["host_key"] == first.group(2)
    # The pinned key still serves new connections, though its path now holds garbage.
    r = strict(k, daemon.port, kh, "hostname")
    assert r.returncode == 0 and r.stdout == "bad-job\n", r.stderr


def test_deleted_key_is_generated_on_reload(daemon, job, keys, tmp_path):
    k, log, first = registered(daemon, job, keys, tmp_path, "gen")
    path = os.path.join(daemon.keydir, ED25519)
    os.unlink(path)
    os.unlink(path + ".pub")
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(host_key_lines(log)) == 2, what="the generated key's line")
    second = host_key_lines(log)[1]
    assert second.group(2) != first.group(2)
    assert os.stat(path).st_mode & 0o777 == 0o600
    r = strict(k, daemon.port, known_hosts(tmp_path, "kh", second.group(3)), "hostname")
    assert r.returncode == 0 and r.stdout == "gen-job\n", r.stderr


RSA = "ssh_host_rsa_key"


def rsa_key_in(keydir, form):
    """An RSA host key written in one of the forms admins bring: OpenSSH's
    own (ssh-keygen), PKCS#8 (openssl genpkey; libssh 0.10 with OpenSSL 3
    writes this too), PKCS#1 (openssl -traditional). Its fingerprint."""
    path = os.path.join(keydir, RSA)
    tmp = path + ".new"
    if form == "openssh":
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "", "-f", tmp], check=True)
        os.unlink(tmp + ".pub")
    else:
        subprocess.run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048", "-out", tmp],
                       check=True, capture_output=True)
        if form == "pkcs1":
            subprocess.run(["openssl", "pkey", "-in", tmp, "-traditional", "-out", tmp + "1"], check=True)
            os.rename(tmp + "1", tmp)
    os.chmod(tmp, 0o600)
    with open(tmp) as f:
        head = f.readline().strip()
    assert head == {"openssh": "-----BEGIN OPENSSH PRIVATE KEY-----", "pkcs8": "-----BEGIN PRIVATE KEY-----",
                    "pkcs1": "-----BEGIN RSA PRIVATE KEY-----"}[form], head
    pub = subprocess.run(["ssh-keygen", "-y", "-f", tmp], capture_output=True, text=True, check=True).stdout
    os.rename(tmp, path)
    return pub.split()[1]


@pytest.mark.parametrize("form", ["openssh", "pkcs8", "pkcs1"])
def test_rsa_host_key_in_every_form_is_served(daemon, keys, tmp_path, form):
    """The network child's libssh is libgcrypt's, which reads no PKCS#8: the
    daemon's helper hands it a PKCS#1 copy. A real client offered only RSA
    must see exactly the key in the file."""
    k = keys("rsa")
    daemon.add("exec-rsa", "--host", "--user", "root", key=k)
    blob = rsa_key_in(daemon.keydir, form)
    before = len(daemon.log())
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in daemon.log()[before:] or "reload refused" in daemon.log()[before:],
             what="the reload")
    assert "reload refused" not in daemon.log()[before:], daemon.log()[before:]
    kh = known_hosts(tmp_path, "kh", f"[127.0.0.1]:{daemon.port} ssh-rsa {blob}")
    for alg in ("rsa-sha2-512", "rsa-sha2-256"):
        r = subprocess.run(ssh_argv(k, daemon.port, "echo served", opts=[
            "StrictHostKeyChecking=yes", f"UserKnownHostsFile={kh}", f"HostKeyAlgorithms={alg}"]),
            capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout == "served\n", (alg, r.stderr)


def test_ed25519_pkcs8_key_is_refused_by_name(daemon, job, keys, tmp_path):
    """An ed25519 key in PKCS#8 (openssl genpkey) cannot be handed to the
    network child (nor read by OpenSSH): the reload is refused naming the
    file and the way out, and the running key keeps serving."""
    k, log, first = registered(daemon, job, keys, tmp_path, "pk8")
    path = os.path.join(daemon.keydir, ED25519)
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", path + ".new"], check=True)
    os.chmod(path + ".new", 0o600)
    os.rename(path + ".new", path)
    before = len(daemon.log())
    daemon.proc.send_signal(signal.SIGHUP)
    want = (f"reload refused, keeping the running configuration and host keys: host key {path} is an ed25519 key "
            f"in PEM (PKCS#8) form, which the network child cannot read; replace it with one in OpenSSH's format "
            f"(ssh-keygen -t ed25519 -N '' -f {path})")
    wait_for(lambda: want in daemon.log()[before:], what="the refusal")
    r = strict(k, daemon.port, known_hosts(tmp_path, "kh", first.group(3)), "hostname")
    assert r.returncode == 0 and r.stdout == "pk8-job\n", r.stderr
    t = subprocess.run([daemon.sshd, "-t", "-f", daemon.conf], capture_output=True, text=True, timeout=30)
    assert t.returncode != 0 and f"host key {path} is an ed25519 key in PEM (PKCS#8) form" in t.stderr, t.stderr


def test_key_overwritten_in_place_changes_nothing_until_reload(daemon, job, keys, tmp_path):
    """Connections are served from the copy made at load: writing another
    key into the same file (no rename) is not served until SIGHUP."""
    k, log, first = registered(daemon, job, keys, tmp_path, "inplace")
    kh = known_hosts(tmp_path, "kh", first.group(3))
    path = os.path.join(daemon.keydir, ED25519)
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(other)], check=True)
    with open(path, "r+") as f:          # same inode, new bytes
        f.truncate(0)
        f.write(other.read_text())
    r = strict(k, daemon.port, kh, "hostname")
    assert r.returncode == 0 and r.stdout == "inplace-job\n", r.stderr
