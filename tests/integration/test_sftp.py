"""The built-in SFTP server, driven by real clients: OpenSSH sftp and scp,
sshfs, PuTTY psftp, paramiko and asyncssh. Files land in the job, as the job's
user."""
import base64
import hashlib
import os
import pwd
import shutil
import subprocess

import pytest

from conftest import paramiko_client, ssh, ssh_argv


def opts(key, port):
    """OpenSSH options shared by sftp and scp (which take -P for the port)."""
    return ["-F", "/dev/null", "-i", key.path, "-P", str(port), "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def live(daemon, job, keys, jobroot):
    k = keys("sftp")
    pid = job(uid=1000, gid=1000, cwd="/home/job")
    daemon.add("exec-sftp", "--pid", str(pid), key=k)
    return k


def test_openssh_sftp_batch(daemon, live, tmp_path):
    src = tmp_path / "blob"
    src.write_bytes(os.urandom(3 << 20) + b"tail")
    batch = (f"pwd\nput {src} blob\nget blob {tmp_path}/back\nmkdir d\nrename blob d/moved\n"
             "symlink d/moved link\nls -l\nrm link\nrm d/moved\nrmdir d\n")
    r = subprocess.run(["sftp", *opts(live, daemon.port), "-b", "-", "root@127.0.0.1"], input=batch,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Remote working directory: /home/job" in r.stdout
    assert sha(tmp_path / "back") == sha(src)
    assert "link -> d/moved" in r.stdout or "lrwxrwxrwx" in r.stdout


def test_files_belong_to_the_job_user(daemon, live, tmp_path, jobroot):
    f = tmp_path / "mine"
    f.write_text("hello")
    r = subprocess.run(["sftp", *opts(live, daemon.port), "-b", "-", "root@127.0.0.1"],
                       input=f"put {f} owned-by-job\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    st = os.stat(os.path.join(jobroot, "home", "job", "owned-by-job"))
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    # The job user cannot write where the job cannot.
    r = subprocess.run(["sftp", *opts(live, daemon.port), "-b", "-", "root@127.0.0.1"],
                       input=f"put {f} /etc/not-allowed\n", capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "Permission denied" in r.stderr
    assert not os.path.exists(os.path.join(jobroot, "etc", "not-allowed"))


def test_scp_both_ways(daemon, live, tmp_path):
    src = tmp_path / "s"
    src.write_bytes(os.urandom(1 << 20))
    r = subprocess.run(["scp", *opts(live, daemon.port), str(src), "root@127.0.0.1:scp-copy"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["scp", *opts(live, daemon.port), "root@127.0.0.1:scp-copy", str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert sha(tmp_path / "d") == sha(src)
    # OpenSSH 9 scp sends `~/x` as the relative path `x` (only `~user/x` goes
    # through expand-path@openssh.com): relative paths start in the home.
    r = subprocess.run(["scp", *opts(live, daemon.port), "root@127.0.0.1:~/scp-copy", str(tmp_path / "e")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_100mib_sftp_roundtrip(daemon, live, tmp_path):
    src = tmp_path / "big"
    with open(src, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1 << 20))
    r = subprocess.run(["sftp", *opts(live, daemon.port), "-b", "-", "root@127.0.0.1"],
                       input=f"put {src} big\nget big {tmp_path}/big.back\nrm big\n",
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sha(tmp_path / "big.back") == sha(src)


def test_sshfs_mount(daemon, live, tmp_path, jobroot):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    ssh_cmd = " ".join(ssh_argv(live, daemon.port)[:-1])
    r = subprocess.run(["sshfs", "-o", f"ssh_command={ssh_cmd}", "-o", "reconnect", "root@127.0.0.1:/home/job",
                        str(mnt)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        (mnt / "via-sshfs.txt").write_text("written through sshfs\n")
        assert (mnt / "via-sshfs.txt").read_text() == "written through sshfs\n"
        os.mkdir(mnt / "sub")
        os.rename(mnt / "via-sshfs.txt", mnt / "sub" / "moved.txt")
        assert os.listdir(mnt / "sub") == ["moved.txt"]
        job_side = os.path.join(jobroot, "home", "job", "sub", "moved.txt")
        assert open(job_side).read() == "written through sshfs\n"
        assert os.stat(job_side).st_uid == 1000
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], capture_output=True)


def test_paramiko_sftp(daemon, live):
    c = paramiko_client(daemon, live)
    try:
        sf = c.open_sftp()
        with sf.open("pm.txt", "w") as f:
            f.write("paramiko\n")
        assert sf.stat("pm.txt").st_size == 9
        assert "pm.txt" in sf.listdir(".")
        sf.chmod("pm.txt", 0o600)
        assert sf.stat("pm.txt").st_mode & 0o777 == 0o600
        with sf.open("pm.txt") as f:
            assert f.read() == b"paramiko\n"
        with pytest.raises(IOError):
            sf.stat("does-not-exist")
        sf.remove("pm.txt")
    finally:
        c.close()


def test_asyncssh_sftp(daemon, live, tmp_path):
    import asyncio
    import asyncssh

    async def run():
        async with asyncssh.connect("127.0.0.1", daemon.port, username="root", client_keys=[live.path],
                                    known_hosts=None) as conn:
            async with conn.start_sftp_client() as sf:
                await sf.makedirs("a/b/c")
                async with sf.open("a/b/c/x", "w") as f:
                    await f.write("async\n")
                names = await sf.listdir("a/b/c")
                data = await (await sf.open("a/b/c/x")).read()
                await sf.rmtree("a")
                return names, data
    names, data = asyncio.run(run())
    assert "x" in names and data == "async\n"


def test_psftp(daemon, live, tmp_path):
    ppk = tmp_path / "k.ppk"
    subprocess.run(["puttygen", live.path, "-O", "private", "-o", str(ppk)], check=True, capture_output=True)
    scan = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(daemon.port), "127.0.0.1"],
                          capture_output=True, text=True).stdout
    fp = subprocess.run(["ssh-keygen", "-lf", "-"], input=scan, capture_output=True, text=True).stdout.split()[1]
    src = tmp_path / "p"
    src.write_bytes(os.urandom(200000))
    r = subprocess.run(["psftp", "-batch", "-i", str(ppk), "-P", str(daemon.port), "-hostkey", fp,
                        "-b", "/dev/stdin", "root@127.0.0.1"],
                       input=f"put {src} putty.bin\nget putty.bin {tmp_path}/p.back\nrm putty.bin\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sha(tmp_path / "p.back") == sha(src)


def test_unknown_subsystem_refused(daemon, live):
    r = subprocess.run(ssh_argv(live, daemon.port, "-s", "netconf"), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    daemon.wait_log("refused subsystem request 'netconf'")
    assert ssh(live, daemon.port, "echo ok").stdout == "ok\n"


@pytest.fixture
def curl_live(daemon, job, keys, jobroot):
    """A job curl can reach, and OpenSSH's scp inside it (it needs only libc,
    which the root has), as an image would have it: curl's scp:// runs
    `scp -f/-t` there. The scp binary is removed afterwards. The client key is
    ed25519: libssh2 1.10 reads it in OpenSSH format; an RSA key would fail, as
    libssh2 1.10 signs only ssh-rsa (SHA-1), which algorithms.pubkeys refuses."""
    k = keys("curl")
    pid = job(uid=1000, gid=1000, cwd="/work")
    scp = os.path.join(jobroot, "usr", "bin", "scp")
    shutil.copy("/usr/bin/scp", scp)
    daemon.add("exec-curl", "--pid", str(pid), key=k)
    yield k
    os.unlink(scp)


def host_key_sha256(daemon):
    """The ed25519 host key's SHA256, base64 without padding, for --hostpubsha256:
    curl checks the host key instead of skipping the check with -k."""
    with open(os.path.join(daemon.keydir, "ssh_host_ed25519_key.pub")) as f:
        blob = base64.b64decode(f.read().split()[1])
    return base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def curl(daemon, key, url_path, *args, scheme="sftp"):
    argv = ["curl", "-sS", "--fail", "-m", "60", "-u", "root:", "--key", key.path, "--pubkey", key.pub,
            "--hostpubsha256", host_key_sha256(daemon), *args,
            f"{scheme}://127.0.0.1:{daemon.port}{url_path}"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=90)


def test_curl_sftp_and_scp(daemon, curl_live, tmp_path, jobroot):
    """curl (libssh2 1.10: no EtM MACs, no GCM) agrees on hmac-sha2-256/512 and
    moves files both ways over sftp:// and scp://."""
    key = curl_live
    src = tmp_path / "up"
    src.write_bytes(os.urandom(1 << 20) + b"end")
    r = curl(daemon, key, "/home/job/curl-up", "-T", str(src))
    assert r.returncode == 0, r.stderr + daemon.log()[-2000:]
    assert sha(os.path.join(jobroot, "home", "job", "curl-up")) == sha(src)
    r = curl(daemon, key, "/home/job/curl-up", "-o", str(tmp_path / "sftp-down"))
    assert r.returncode == 0, r.stderr
    assert sha(tmp_path / "sftp-down") == sha(src)
    r = curl(daemon, key, "/home/job/curl-up", "-o", str(tmp_path / "scp-down"), scheme="scp")
    assert r.returncode == 0, r.stderr
    assert sha(tmp_path / "scp-down") == sha(src)
    r = curl(daemon, key, "/home/job/curl-scp-up", "-T", str(src), scheme="scp")
    assert r.returncode == 0, r.stderr
    assert sha(os.path.join(jobroot, "home", "job", "curl-scp-up")) == sha(src)
    os.unlink(os.path.join(jobroot, "home", "job", "curl-up"))
    os.unlink(os.path.join(jobroot, "home", "job", "curl-scp-up"))


JOB_USERS = ("peonalice:x:1001:1001:alice:/home/peonalice:/bin/sh\n"
             "peonnohome:x:1002:1002:no home:/home/peonnohome:/bin/sh\n")


@pytest.fixture
def job_users(job, jobroot):
    """Two users that exist only in the job's /etc/passwd (the way mkjob
    writes root, job and nobody there): peonalice, whose home holds a file,
    and peonnohome, whose home does not exist. The job root is shared by the
    whole session: passwd and alice's home are restored afterwards."""
    passwd = os.path.join(jobroot, "etc", "passwd")
    if not os.path.exists(passwd):
        job()
    for name in ("peonalice", "peonnohome"):
        with pytest.raises(KeyError):
            pwd.getpwnam(name)              # not on the host: only the job's file can answer
    with open(passwd) as f:
        saved = f.read()
    home = os.path.join(jobroot, "home", "peonalice")
    os.mkdir(home, 0o755)
    with open(os.path.join(home, "greeting"), "w") as f:
        f.write("hello from alice's home\n")
    os.chown(home, 1001, 1001)
    with open(passwd, "a") as f:
        f.write(JOB_USERS)
    yield
    with open(passwd, "w") as f:
        f.write(saved)
    shutil.rmtree(home)


def sftp_batch(key, port, batch):
    return subprocess.run(["sftp", *opts(key, port), "-b", "-", "root@127.0.0.1"], input=batch,
                          capture_output=True, text=True, timeout=60)


def test_scp_tilde_and_relative_land_in_home(daemon, job, keys, jobroot, tmp_path):
    """The job works in /work, its user's home is /home/job: `scp f host:~/x`
    (which OpenSSH 9 scp sends as the relative `x`) and `scp f host:x` both
    land in the home, where the shell's ~ is, as with OpenSSH."""
    k = keys("home")
    daemon.add("exec-home", "--pid", str(job(uid=1000, gid=1000, cwd="/work")), key=k)
    src = tmp_path / "f"
    src.write_bytes(os.urandom(100000))
    for dest in ("~/tilde-x", "rel-x"):
        r = subprocess.run(["scp", *opts(k, daemon.port), str(src), f"root@127.0.0.1:{dest}"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    try:
        r = ssh(k, daemon.port, "pwd; sha256sum ~/tilde-x ~/rel-x")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == "/work"                      # the shell itself starts in the job's cwd
        assert [l.split()[0] for l in lines[1:]] == [sha(src)] * 2
        assert not os.path.exists(os.path.join(jobroot, "work", "rel-x"))
        assert not os.path.exists(os.path.join(jobroot, "work", "tilde-x"))
        r = sftp_batch(k, daemon.port, "pwd\n")
        assert r.returncode == 0, r.stderr
        assert "Remote working directory: /home/job\n" in r.stdout
    finally:
        for n in ("tilde-x", "rel-x"):
            os.unlink(os.path.join(jobroot, "home", "job", n))


def test_no_home_starts_in_job_cwd(daemon, job, keys, job_users, tmp_path):
    """A job user whose home does not exist (peonnohome), or a uid the job's
    passwd does not name (home "/"), starts in the job's working directory,
    and `~/x` and `x` land there."""
    src = tmp_path / "f"
    src.write_bytes(os.urandom(50000))
    for n, uid in enumerate((1002, 2000)):
        k = keys(f"nohome{n}")
        daemon.add(f"exec-nohome{n}", "--pid", str(job(uid=uid, gid=uid, cwd="/tmp")), key=k)
        r = sftp_batch(k, daemon.port, f"pwd\nput {src} rel-x\n")
        assert r.returncode == 0, r.stderr
        assert "Remote working directory: /tmp\n" in r.stdout
        r = subprocess.run(["scp", *opts(k, daemon.port), str(src), "root@127.0.0.1:~/tilde-x"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        r = ssh(k, daemon.port, "sha256sum /tmp/rel-x /tmp/tilde-x")
        assert r.returncode == 0, r.stderr
        assert [l.split()[0] for l in r.stdout.splitlines()] == [sha(src)] * 2


def test_expand_path_other_user(daemon, live, job_users, tmp_path):
    """`~peonalice/...` expands through expand-path@openssh.com to that user's
    home from the job's /etc/passwd (the user does not exist on the host)."""
    r = subprocess.run(["scp", *opts(live, daemon.port), "root@127.0.0.1:~peonalice/greeting",
                        str(tmp_path / "g")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "g").read_text() == "hello from alice's home\n"
    r = subprocess.run(["scp", *opts(live, daemon.port), "root@127.0.0.1:~peonnobody/x", str(tmp_path / "n")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "no such user" in r.stderr.lower() or "no such file" in r.stderr.lower(), r.stderr
