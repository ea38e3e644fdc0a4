"""What the user sees from inside the shell: the job's namespaces, root,
environment, cwd, credentials, cgroups and capabilities."""
import re
import resource
import time

import pytest

from conftest import paramiko_client, ssh


def caps(text, field):
    return int(re.search(rf"^{field}:\s*([0-9a-f]+)$", text, re.M).group(1), 16)


def status_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return f.read()


def test_shell_sees_the_job(daemon, job, keys):
    k = keys("alice")
    pid = job(hostname="trainjob-7", env=["FOO=bar baz", "CUDA_VISIBLE_DEVICES=0"], cwd="/work")
    daemon.add("exec-1", "--pid", str(pid), key=k)
    r = ssh(k, daemon.port, 'hostname; pwd; echo "FOO=$FOO"; echo "CUDA=$CUDA_VISIBLE_DEVICES"; '
            'ls /; id -u; ps -o pid,comm; echo "USER=$USER HOME=$HOME"; echo "CONN=$SSH_CONNECTION"')
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.splitlines()[0] == "trainjob-7"
    assert out.splitlines()[1] == "/work"
    assert "FOO=bar baz" in out and "CUDA=0" in out
    assert {"bin", "etc", "work", "proc"} <= set(out.split())   # the job's busybox root
    assert re.search(r"^\s*1\s+sleep$", out, re.M), out              # the job's pid 1
    assert "USER=root HOME=/root" in out
    assert re.search(r"CONN=127\.0\.0\.1 \d+ 127\.0\.0\.1 %d" % daemon.port, out)


def test_cgroups_are_the_jobs(daemon, job, keys):
    k = keys("alice")
    pid = job()
    daemon.add("exec-cg", "--pid", str(pid), key=k)
    r = ssh(k, daemon.port, "cat /proc/self/cgroup; echo ===; cat /proc/1/cgroup")
    assert r.returncode == 0, r.stderr
    mine, jobs = r.stdout.split("===\n")
    # Hierarchies the job was placed in (all but cpuset here) match exactly.
    mine_lines = [l for l in mine.split() if "cpuset" not in l]
    jobs_lines = [l for l in jobs.split() if "cpuset" not in l]
    assert mine_lines == jobs_lines
    # Seen from the host, the shell is in the job's cgroup, not the daemon's.
    with open(f"/proc/{pid}/cgroup") as f:
        job_host = f.read()
    assert "peon-test-" in job_host


def test_unprivileged_job_user(daemon, job, keys):
    k = keys("bob")
    pid = job(uid=1000, gid=1000, cwd="/home/job")
    daemon.add("exec-u", "--pid", str(pid), key=k)
    r = ssh(k, daemon.port, "id -u; id -g; pwd; echo $HOME; grep -E '^Cap(Eff|Prm|Amb)' /proc/self/status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[:4] == ["1000", "1000", "/home/job", "/home/job"]
    assert caps(r.stdout, "CapEff") == 0 and caps(r.stdout, "CapPrm") == 0


def test_capabilities_no_wider_than_job(daemon, job, keys):
    k = keys("carol")
    pid = job(bounding_set="-all,+chown,+kill,+setuid,+setgid,+sys_chroot")
    job_status = status_of(pid)
    daemon.add("exec-caps", "--pid", str(pid), key=k)
    r = ssh(k, daemon.port, "grep -E '^(Cap|NoNewPrivs)' /proc/self/status")
    assert r.returncode == 0, r.stderr
    for field in ("CapEff", "CapPrm", "CapBnd", "CapInh"):
        mine, theirs = caps(r.stdout, field), caps(job_status, field)
        assert mine & ~theirs == 0, f"{field}: shell {mine:x} exceeds job {theirs:x}"
    assert caps(r.stdout, "CapEff") == caps(job_status, "CapEff")


def test_no_new_privs_follows_job(daemon, job, keys):
    k = keys("dave")
    pid = job(nnp=True)
    daemon.add("exec-nnp", "--pid", str(pid), key=k)
    r = ssh(k, daemon.port, "grep NoNewPrivs /proc/self/status")
    assert r.stdout.split() == ["NoNewPrivs:", "1"]


def test_user_namespace_job(daemon, job, keys):
    k = keys("erin")
    pid = job(userns=True, hostname="userns-job")
    daemon.add("exec-userns", "--pid", str(pid), key=k)
    r = ssh(k, daemon.port, "hostname; id -u; cat /proc/self/uid_map")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "userns-job" and lines[1] == "0"
    # Inside the job's user namespace: root there is host uid 100000.
    assert lines[2].split() == ["0", "100000", "65536"]


def test_other_user_of_the_job(daemon, job, keys):
    k = keys("frank")
    pid = job()
    daemon.add("exec-asjob", "--pid", str(pid), "--user", "job", key=k)
    r = ssh(k, daemon.port, "id -un; id -G; echo $HOME; grep CapEff /proc/self/status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "job"
    assert set(lines[1].split()) == {"1000", "100"}      # primary + 'users' from the job's /etc/group
    assert lines[2] == "/home/job"
    assert caps(r.stdout, "CapEff") == 0


def test_tty_exists_inside(daemon, job, keys):
    k = keys("gina")
    pid = job()
    daemon.add("exec-tty", "--pid", str(pid), key=k)
    r = ssh(k, daemon.port, 't=$(tty); echo "$t"; test -c "$t" && echo is-a-device; echo "SSH_TTY=$SSH_TTY"; '
            'ls -l "$t"', tty=True)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout.replace("\r", "")
    tty = out.splitlines()[0]
    assert re.fullmatch(r"/dev/pts/\d+", tty)
    assert "is-a-device" in out
    assert f"SSH_TTY={tty}" in out
    # The job's devpts (its own instance), owned by the user, group tty.
    assert re.search(r"^crw--w----\s+\d+\s+root\s+tty", out, re.M), out


def test_env_requests_filtered(daemon, job, keys):
    k = keys("hank")
    pid = job()
    daemon.add("exec-env", "--pid", str(pid), key=k)
    r = ssh(k, daemon.port, 'echo "LANG=$LANG LC_ALL=$LC_ALL LD=$LD_PRELOAD P=$PATH X=$EVIL"',
            opts=["SetEnv=LANG=C.UTF-8 LC_ALL=C LD_PRELOAD=/tmp/evil.so PATH=/evil EVIL=1"])
    assert r.returncode == 0, r.stderr
    assert "LANG=C.UTF-8 LC_ALL=C LD= " in r.stdout
    assert "P=/bin:/usr/bin" in r.stdout     # the job's PATH, not the client's
    assert "X=\n" in r.stdout or r.stdout.rstrip().endswith("X=")


def test_limits_umask_and_oom_score_adj_are_the_jobs(daemon, job, keys):
    """As `docker exec` does: the shell, a command and the SFTP server carry
    the job's resource limits, umask and oom_score_adj, not the daemon's."""
    k = keys("lim")
    pid = job(umask="0077")
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (1000, 2000))
    resource.prlimit(pid, resource.RLIMIT_CORE, (0, 4096))
    with open(f"/proc/{pid}/oom_score_adj", "w") as f:
        f.write("500")
    assert resource.prlimit(daemon.proc.pid, resource.RLIMIT_NOFILE) != (1000, 2000)
    daemon.add("exec-lim", "--pid", str(pid), key=k)
    r = ssh(k, daemon.port, "ulimit -n; ulimit -Hn; ulimit -c; umask; cat /proc/self/oom_score_adj")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1000", "2000", "0", "0077", "500"]
    # SFTP: a file created with mode 0644 gets the job's umask.
    c = paramiko_client(daemon, k)
    try:
        sf = c.open_sftp()
        with sf.open("/tmp/made-by-sftp", "w") as f:
            f.write(b"x")
        sf.close()
    finally:
        c.close()
    r = ssh(k, daemon.port, "stat -c %a /tmp/made-by-sftp")
    assert r.stdout.strip() == "600", r.stdout


def freeze_control(pid):
    """(file, frozen, thawed) that pauses the job's own cgroup: the v1
    freezer where mounted, else cgroup v2's cgroup.freeze."""
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            p = line.split()
            sep = p.index("-")
            if p[sep + 1] == "cgroup2":
                mounts["v2"] = (p[4], p[3])
            elif p[sep + 1] == "cgroup" and "freezer" in p[sep + 3].split(","):
                mounts["freezer"] = (p[4], p[3])
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    for _, ctrls, path in lines:
        if "freezer" in ctrls.split(",") and "freezer" in mounts:
            point, root = mounts["freezer"]
            return f"{point}{path[len(root.rstrip('/')):]}/freezer.state", "FROZEN", "THAWED"
    for hier, _, path in lines:
        if hier == "0" and "v2" in mounts:
            point, root = mounts["v2"]
            return f"{point}{path[len(root.rstrip('/')):]}/cgroup.freeze", "1", "0"
    raise AssertionError("no freezer for the job's cgroup on this machine")


def test_paused_job_answers_at_once(daemon, job, keys):
    k = keys("paused")
    pid = job()
    daemon.add("exec-paused", "--pid", str(pid), key=k)
    ctl, frozen, thawed = freeze_control(pid)
    with open(ctl, "w") as f:
        f.write(frozen)
    try:
        t = time.monotonic()
        r = ssh(k, daemon.port, "echo in")
        took = time.monotonic() - t
        assert r.returncode != 0 and "in" not in r.stdout
        assert "the job is paused (its cgroup is frozen): resume it, then connect again" in r.stderr, r.stderr
        assert took < 2, f"answered after {took:.1f} s"
    finally:
        with open(ctl, "w") as f:
            f.write(thawed)
    r = ssh(k, daemon.port, "echo back")
    assert r.returncode == 0 and r.stdout == "back\n", r.stderr



def enabled_lsms():
    try:
        with open("/sys/kernel/security/lsm") as f:
            return f.read().strip().split(",")
    except OSError:
        return []


def test_shell_gets_the_jobs_lsm_label(daemon, job, keys):
    lsms = enabled_lsms()
    if "apparmor" not in lsms and "selinux" not in lsms:
        pytest.skip("neither AppArmor nor SELinux is enabled on this kernel "
                    f"(/sys/kernel/security/lsm: {','.join(lsms) or 'absent'}); the label decision is unit-tested "
                    "in tests/unit/test_joblsm.c")
    k = keys("lsm")
    pid = job()
    with open(f"/proc/{pid}/attr/current") as f:
        want = f.read().strip("\0\n")
    daemon.add("exec-lsm", "--pid", str(pid), key=k)
    r = ssh(k, daemon.port, "cat /proc/self/attr/current")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip("\0\n") == want
