"""Per-key and per-session control of a live execution: `keys ID --add/--remove`,
`ttl ID`, `kill PID`. What the user sees: the CLI's output, whether ssh gets in,
whether a live session ends, and the lines in the execution's log file."""
import json
import os
import subprocess
import time

from conftest import Daemon, ctl_raw, ssh, ssh_argv, wait_for

DENIED = "Permission denied (publickey)"


def fingerprint(key):
    out = subprocess.run(["ssh-keygen", "-lf", key.pub], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def started_session(key, port, user="root"):
    p = subprocess.Popen(ssh_argv(key, port, "echo started; sleep 60", user=user), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "started\n"
    return p


def key_fps(daemon, exec_id):
    r = daemon.ctl("keys", exec_id, "--json", check=True)
    return [k["fingerprint"] for k in json.loads(r.stdout)["keys"]]


def denied(key, port):
    r = ssh(key, port, "echo in")
    return r.returncode == 255 and DENIED in r.stderr


def test_added_key_logs_in_and_is_told_to_the_log(daemon, job, keys, tmp_path):
    a, b = keys("a"), keys("b")
    log = tmp_path / "exec.log"
    daemon.add("exec-k", "--pid", str(job(hostname="keys-job")), "--log-file", str(log), key=a)
    assert denied(b, daemon.port)
    r = daemon.ctl("keys", "exec-k", "--add", b.line())
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"execution exec-k: added {fingerprint(b)} (b@test); 2 keys now\n"
    assert ssh(b, daemon.port, "hostname").stdout == "keys-job\n"
    assert ssh(a, daemon.port, "hostname").stdout == "keys-job\n"
    assert f"SSH keys changed: added {fingerprint(b)} (b@test); 2 keys now." in log.read_text().splitlines()
    assert key_fps(daemon, "exec-k") == [fingerprint(a), fingerprint(b)]
    # The change is on disk: a restarted daemon still lets b in.
    daemon.restart()
    assert ssh(b, daemon.port, "hostname").stdout == "keys-job\n"


def test_added_key_options_are_honoured(daemon, keys):
    a, b = keys("a"), keys("b")
    daemon.add("exec-o", "--host", "--user", "root", key=a)
    daemon.ctl("keys", "exec-o", "--add", f'command="echo forced" {b.line()}', check=True)
    assert ssh(b, daemon.port, "echo asked").stdout == "forced\n"
    # The same key with other options is refused, unless removed in the same request.
    r = daemon.ctl("keys", "exec-o", "--add", b.line())
    assert r.returncode == 1
    assert r.stderr == (f"peon-sshctl: execution exec-o already holds key {fingerprint(b)} with other options; "
                        "remove it in the same request to change them\n")
    assert ssh(b, daemon.port, "echo asked").stdout == "forced\n"
    r = daemon.ctl("keys", "exec-o", "--remove", fingerprint(b), "--add", b.line(), check=True)
    assert ssh(b, daemon.port, "echo asked").stdout == "asked\n"
    # The same line again changes nothing.
    r = daemon.ctl("keys", "exec-o", "--add", b.line(), check=True)
    assert "no change" in r.stdout


def test_removed_key_refused_and_its_session_ended(daemon, job, keys, tmp_path):
    a, b = keys("a"), keys("b")
    log = tmp_path / "exec.log"
    pid = str(job())
    daemon.add("exec-r", "--pid", pid, "--log-file", str(log), "--key", a.line(), "--key", b.line())
    with_b, with_a = started_session(b, daemon.port), started_session(a, daemon.port)
    wait_for(lambda: len(daemon.sessions("exec-r")) == 2, what="two sessions recorded")
    r = daemon.ctl("keys", "exec-r", "--remove", fingerprint(b), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [k["fingerprint"] for k in out["removed"]] == [fingerprint(b)]
    assert out["added"] == [] and out["sessions_ended"] == 1
    assert [k["fingerprint"] for k in out["keys"]] == [fingerprint(a)]
    # What the revocation means: b's live session ends, a's goes on, b gets in no more.
    with_b.wait(timeout=15)
    assert with_b.returncode != 0
    assert with_a.poll() is None
    assert denied(b, daemon.port)
    assert ssh(a, daemon.port, "echo in").stdout == "in\n"
    assert (f"SSH keys changed: removed {fingerprint(b)} (b@test); 1 key now; 1 session of removed keys ended."
            in log.read_text().splitlines())
    with_a.kill()


def test_removing_the_last_key_admits_nobody(daemon, keys):
    a = keys("a")
    daemon.add("exec-l", "--host", "--user", "root", key=a)
    r = daemon.ctl("keys", "exec-l", "--remove", fingerprint(a))
    assert r.returncode == 0, r.stderr
    assert "0 keys now" in r.stdout
    assert denied(a, daemon.port)
    # Still registered, with no key, also after a restart; keys can come back.
    daemon.restart()
    assert key_fps(daemon, "exec-l") == []
    assert "exec-l" in daemon.ctl("list", check=True).stdout
    assert denied(a, daemon.port)
    daemon.ctl("keys", "exec-l", "--add-file", a.pub, check=True)
    assert ssh(a, daemon.port, "echo in").stdout == "in\n"


def test_keys_refusals_are_one_sentence_and_change_nothing(tmp_path, hostkeys, keys):
    d = Daemon(str(tmp_path), hostkeys, "limits = { max_keys = 2; };\n").start()
    try:
        a, b, c = keys("a"), keys("b"), keys("c")
        d.add("exec-e", "--host", "--user", "root", "--key", a.line(), "--key", b.line())
        cases = [
            (["keys", "nope", "--add", c.line()], "no execution 'nope' is registered"),
            (["keys", "exec-e", "--remove", "SHA256:short"],
             "'SHA256:short' is not a key fingerprint: use the SHA256:... form that list --json shows"),
            (["keys", "exec-e", "--remove", fingerprint(c)], f"execution exec-e holds no key {fingerprint(c)}"),
            (["keys", "exec-e", "--add", "ssh-ed25519 AAAA garbage"],
             "--add:1: the base64 key data is not a valid ssh-ed25519 key"),
            (["keys", "exec-e", "--add", c.line()], "too many keys: execution exec-e would hold 3, limits.max_keys is 2"),
            (["keys", "exec-e", "--add", "# nothing"], "no public key was given to --add (only blank or comment lines)"),
        ]
        for argv, message in cases:
            r = d.ctl(*argv)
            assert r.returncode == 1, (argv, r.stdout)
            assert r.stderr == f"peon-sshctl: {message}\n", r.stderr
        assert key_fps(d, "exec-e") == [fingerprint(a), fingerprint(b)]
        # Removal and addition in one request stay within the limit.
        r = d.ctl("keys", "exec-e", "--remove", fingerprint(b), "--add", c.line(), check=True)
        assert key_fps(d, "exec-e") == [fingerprint(a), fingerprint(c)]
        r = d.ctl("keys", "exec-e", "--remove")
        assert r.returncode == 2
        raw = ctl_raw(d, {"cmd": "keys", "id": "exec-e", "remove": "SHA256:x"})
        assert raw == {"ok": False, "error": "remove must be a list"}
        raw = ctl_raw(d, {"cmd": "keys", "id": "exec-e", "drop": []})
        assert raw["error"] == "unknown field 'drop' in keys request"
    finally:
        d.stop()


def test_unrecordable_key_change_changes_nothing(daemon, keys):
    a, b = keys("a"), keys("b")
    daemon.add("exec-u", "--host", "--user", "root", "--key", a.line())
    rec = os.path.join(daemon.run, "executions", "exec-u.json")
    os.unlink(rec)
    os.makedirs(os.path.join(rec, "in-the-way"))      # the rename over it fails
    r = daemon.ctl("keys", "exec-u", "--add", b.line())
    assert r.returncode == 1
    assert "cannot record execution exec-u" in r.stderr and "the keys of execution exec-u are unchanged" in r.stderr
    assert r.stderr.count("\n") == 1
    assert denied(b, daemon.port)
    r = daemon.ctl("keys", "exec-u", "--remove", fingerprint(a))
    assert r.returncode == 1
    assert ssh(a, daemon.port, "echo in").stdout == "in\n"
    r = daemon.ctl("ttl", "exec-u", "1s")
    assert r.returncode == 1 and "the expiry of execution exec-u is unchanged" in r.stderr
    time.sleep(1.5)
    assert ssh(a, daemon.port, "echo in").stdout == "in\n"


def test_ttl_sets_and_clears_the_expiry(daemon, keys, tmp_path):
    a = keys("a")
    log = tmp_path / "exec.log"
    daemon.add("exec-t", "--host", "--user", "root", "--log-file", str(log), key=a)
    t0 = time.time()
    r = daemon.ctl("ttl", "exec-t", "2s", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert abs(out["expires_ms"] / 1000 - (t0 + 2)) < 1
    assert out["message"].startswith("execution exec-t now expires at ") and out["message"].endswith(", in 2 s")
    assert ssh(a, daemon.port, "echo in").stdout == "in\n"
    wait_for(lambda: "access ended (expired)" in daemon.log(), timeout=10, what="expiry")
    assert time.time() - t0 >= 2
    lines = log.read_text().splitlines()
    assert any(l.startswith("SSH debug access now ends at ") and l.endswith("Z.") for l in lines), lines
    assert "SSH debug access ended (expired)." in lines
    assert daemon.ctl("ttl", "exec-t", "1h").stderr == "peon-sshctl: no execution 'exec-t' is registered\n"


def test_ttl_none_keeps_an_execution_past_its_ttl(daemon, keys, tmp_path):
    a = keys("a")
    log = tmp_path / "exec.log"
    daemon.add("exec-n", "--host", "--user", "root", "--ttl", "2s", "--log-file", str(log), key=a)
    r = daemon.ctl("ttl", "exec-n", "none")
    assert r.stdout == "execution exec-n no longer expires\n"
    time.sleep(3)
    assert ssh(a, daemon.port, "echo in").stdout == "in\n"
    listed = json.loads(daemon.ctl("list", "--json", check=True).stdout)["executions"]
    assert listed[0]["expires_ms"] == 0
    assert "SSH debug access no longer ends at a set time." in log.read_text().splitlines()
    daemon.restart()          # on disk too
    time.sleep(0.5)
    assert ssh(a, daemon.port, "echo in").stdout == "in\n"


def test_ttl_refusals(daemon, keys):
    daemon.add("exec-x", "--host", "--user", "root", key=keys("a"))
    r = daemon.ctl("ttl", "exec-x", "soon")
    assert r.returncode == 1
    assert r.stderr == "peon-sshctl: ttl soon: not a duration like 90s, 30m, 12h or 2d, or none\n"
    assert daemon.ctl("ttl", "exec-x").returncode == 2
    for bad in (0, -1, "never", 2**40):
        raw = ctl_raw(daemon, {"cmd": "ttl", "id": "exec-x", "ttl": bad})
        assert raw["error"] == 'ttl must be a whole number of seconds between 1 and 316224000, or "none"'
    assert json.loads(daemon.ctl("list", "--json", check=True).stdout)["executions"][0]["expires_ms"] == 0


def test_kill_ends_the_session_and_says_so_in_the_log(daemon, job, keys, tmp_path):
    a = keys("a")
    log = tmp_path / "exec.log"
    daemon.add("exec-s", "--pid", str(job()), "--log-file", str(log), key=a)
    p = started_session(a, daemon.port, user="alice")
    sessions = wait_for(lambda: daemon.sessions("exec-s"), what="session recorded")
    pid = sessions[0]["pid"]
    r = daemon.ctl("kill", str(pid))
    assert r.stdout == f"session {pid} of execution exec-s ended\n"
    p.wait(timeout=15)
    assert p.returncode != 0
    line = [l for l in log.read_text().splitlines() if l.startswith("SSH session ended by the administrator")]
    assert len(line) == 1
    assert line[0].startswith(f"SSH session ended by the administrator: key {fingerprint(a)} (a@test) from 127.0.0.1:")
    assert line[0].endswith(f" as alice (session {pid}).")
    wait_for(lambda: daemon.sessions("exec-s") == [], what="session gone")
