"""Counters (issue 12, part 5): what `status --json` and the Prometheus text
file say after real logins, refusals and a failed start, and the file's
life cycle (atomic writes, a new path on reload, a path that cannot be
written)."""
import json
import os
import re
import signal
import subprocess

from conftest import Daemon, ssh, ssh_argv, wait_for
from test_inside_job import freeze_control

SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\d+)$")


def status(d):
    return json.loads(d.ctl("status", "--json", check=True).stdout)


def scrape(path):
    """The file as node_exporter reads it: {'name{labels}': value}; every
    sample's metric has HELP and TYPE lines."""
    with open(path) as f:
        text = f.read()
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert m.group(1) in typed, line
        samples[m.group(1) + (m.group(2) or "")] = int(m.group(3))
    return samples


def prom_conf(path, interval=1):
    return f'metrics = {{ textfile = "{path}"; interval = {interval}; }};\n'


def test_counters_after_real_traffic(tmp_path, hostkeys, job, keys):
    prom = tmp_path / "textfile" / "peon-sshd.prom"
    prom.parent.mkdir()
    d = Daemon(str(tmp_path), hostkeys, extra_conf=prom_conf(prom)).start()
    try:
        wait_for(prom.exists, what="the first write")
        first = scrape(prom)
        assert first["peon_sshd_connections_accepted_total"] == 0
        assert first["peon_sshd_sessions"] == 0 and first["peon_sshd_executions"] == 0
        assert f'peon_sshd_host_key_info{{type="ssh-ed25519",fingerprint="{status(d)["host_key"]}"}}' in first

        k, bad = keys("m"), keys("m-bad")
        pid = job()
        d.add("exec-m", "--pid", str(pid), key=k)
        r = ssh(k, d.port, "head -c 300000 /dev/zero", text=False)
        assert r.returncode == 0 and len(r.stdout) == 300000, r.stderr
        assert ssh(bad, d.port, "true").returncode == 255
        ctl, frozen, thawed = freeze_control(pid)
        with open(ctl, "w") as f:
            f.write(frozen)
        try:
            assert ssh(k, d.port, "echo in").returncode != 0
        finally:
            with open(ctl, "w") as f:
                f.write(thawed)
        wait_for(lambda: status(d)["spawn_failures"] == 1 and status(d)["auth_failures"] == 1,
                 what="the failed start and the failed login counted")
        st = status(d)
        assert st["connections_accepted"] == 3
        assert st["bytes_to_clients"] >= 300000, st
        # Key exchange and a signature at least; far less than what went out.
        assert 1000 < st["bytes_from_clients"] < 100000, st

        live = subprocess.Popen(ssh_argv(k, d.port, "read x"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            wait_for(lambda: scrape(prom).get("peon_sshd_sessions") == 1, timeout=5, what="the live session")
        finally:
            live.communicate(b"done\n", timeout=30)
        wait_for(lambda: scrape(prom).get("peon_sshd_connections_accepted_total") == 4, timeout=5,
                 what="the file following the counters")
        s = scrape(prom)
        st = status(d)
        assert s["peon_sshd_auth_failures_total"] == 1 and s["peon_sshd_spawn_failures_total"] == 1
        assert s["peon_sshd_executions"] == 1
        assert s["peon_sshd_sent_bytes_total"] >= 300000
        for reason in ("penalised", "per_source", "max_startups"):
            assert s[f'peon_sshd_connections_refused_total{{reason="{reason}"}}'] == 0
        human = d.ctl("status", check=True).stdout
        assert re.search(r"^bytes to clients: +\d+\.\d [KM]iB \(\d+ bytes\)$", human, re.M), human
        assert re.search(r"^spawn failures: +1$", human, re.M) and f"metrics file:          {prom}\n" in human
        assert os.listdir(prom.parent) == ["peon-sshd.prom"]
        assert os.stat(prom).st_mode & 0o777 == 0o644
    finally:
        d.stop()


def test_textfile_path_on_reload_and_write_errors(tmp_path, hostkeys):
    one, two = tmp_path / "one.prom", tmp_path / "missing" / "two.prom"
    d = Daemon(str(tmp_path), hostkeys, extra_conf=prom_conf(one)).start()
    try:
        wait_for(one.exists, what="the first file")
        d.write_conf(prom_conf(two))
        d.proc.send_signal(signal.SIGHUP)
        want = f"cannot write the metrics file {two}: No such file or directory"
        wait_for(lambda: status(d).get("metrics_textfile_error") == want, what="the write error in status")
        assert not one.exists(), "the file at the old path would go stale"
        assert d.log().count(want) == 1, "a failing write is logged once, not at every retry"
        assert d.ctl("status", check=True).stdout.count(f"; last write failed: {want}") == 1
        two.parent.mkdir()
        wait_for(two.exists, timeout=5, what="the write once the directory exists")
        assert "metrics_textfile_error" not in status(d)
        assert f"the metrics file {two} is written again" in d.log()
    finally:
        d.stop()


def test_off_by_default(daemon):
    st = status(daemon)
    assert st["metrics_textfile"] == "" and "metrics_textfile_error" not in st
    assert not [f for f in os.listdir(daemon.base) if f.endswith(".prom")]
    assert re.search(r"^metrics file: +off$", daemon.ctl("status", check=True).stdout, re.M)
