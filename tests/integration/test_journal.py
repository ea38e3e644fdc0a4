"""journald fields (issue 12, part 5), as journald itself would receive them:
the daemon runs in a private mount namespace whose /run/systemd/journal is
a directory of the test's, where the test has bound a datagram socket and
reads the native journal protocol (systemd's JOURNAL_NATIVE_PROTOCOL)."""
import os
import signal
import socket
import struct
import subprocess

from conftest import SSHD, Daemon, ssh, wait_for


def parse_entry(buf):
    """One datagram: FIELD=value lines, or FIELD\\n<le64 size><value>\\n for
    values with a newline."""
    fields, i = {}, 0
    while i < len(buf):
        nl = buf.index(b"\n", i)
        eq = buf.find(b"=", i, nl)
        if eq >= 0:
            fields[buf[i:eq].decode()] = buf[eq + 1:nl].decode()
            i = nl + 1
        else:
            (size,) = struct.unpack("<Q", buf[nl + 1:nl + 9])
            fields[buf[i:nl].decode()] = buf[nl + 9:nl + 9 + size].decode()
            assert buf[nl + 9 + size:nl + 10 + size] == b"\n"
            i = nl + 10 + size
    return fields


class Journal:
    def __init__(self, directory):
        os.makedirs(directory)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(os.path.join(directory, "socket"))
        self.sock.setblocking(False)
        self.entries = []

    def read(self):
        while True:
            try:
                self.entries.append(parse_entry(self.sock.recv(1 << 20)))
            except BlockingIOError:
                return self.entries

    def find(self, pred):
        return [e for e in self.read() if pred(e)]


def start_in_namespace(d, journal_dir):
    """The daemon (without -d: it logs to the journal) in a mount namespace
    of its own, /run/systemd/journal bound to journal_dir. Where this machine
    has no /run/systemd a tmpfs over /run, in that namespace only, makes room."""
    script = ('set -e; if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; '
              'else mount -t tmpfs tmpfs /run; fi; mkdir -p /run/systemd/journal; '
              f'mount --bind "{journal_dir}" /run/systemd/journal; exec "{SSHD}" -f "{d.conf}"')
    d.logf = open(d.logpath, "a")
    d.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                              stdout=d.logf, stderr=subprocess.STDOUT)
    wait_for(lambda: d.proc.poll() is not None or d.ctl("status").returncode == 0, what="daemon answering")
    assert d.proc.poll() is None, d.log()


def test_login_entries_carry_the_fields(tmp_path, hostkeys, job, keys):
    jdir = str(tmp_path / "journal")
    journal = Journal(jdir)
    d = Daemon(str(tmp_path), hostkeys)
    start_in_namespace(d, jdir)
    try:
        k, bad = keys("j"), keys("j-bad")
        fp = subprocess.run(["ssh-keygen", "-lf", k.pub], capture_output=True, text=True).stdout.split()[1]
        bad_fp = subprocess.run(["ssh-keygen", "-lf", bad.pub], capture_output=True, text=True).stdout.split()[1]
        d.add("exec-j", "--pid", str(job()), key=k)
        assert ssh(k, d.port, "echo in").stdout == "in\n"
        assert ssh(bad, d.port, "true").returncode == 255

        accepted = wait_for(lambda: journal.find(lambda e: e.get("MESSAGE", "").startswith("accepted key")),
                            what="the login's entry")
        e = accepted[0]
        assert e["EXECUTION_ID"] == "exec-j" and e["KEY_FINGERPRINT"] == fp
        assert e["REMOTE_ADDR"].startswith("127.0.0.1:") and e["PRIORITY"] == "6", e
        assert e["SYSLOG_IDENTIFIER"] == "peon-sshd"
        # Every entry of that connection names it, down to its closing line.
        port = e["REMOTE_ADDR"]
        closed = wait_for(lambda: journal.find(lambda x: x.get("MESSAGE") == "connection closed"
                                               and x.get("REMOTE_ADDR") == port), what="the closing entry")
        assert closed[0]["EXECUTION_ID"] == "exec-j" and closed[0]["KEY_FINGERPRINT"] == fp
        # The refused key: no execution, but where it came from and which key.
        refused = wait_for(lambda: journal.find(lambda x: x.get("KEY_FINGERPRINT") == bad_fp), what="the refusal")
        assert all(x["REMOTE_ADDR"].startswith("127.0.0.1:") and "EXECUTION_ID" not in x for x in refused)
        assert {x["PRIORITY"] for x in refused} <= {"5", "6"}, refused
        # Nothing went to stderr: the journal was the destination.
        assert "accepted key" not in d.log()
    finally:
        d.proc.send_signal(signal.SIGTERM)
        d.proc.wait(timeout=10)
        d.proc = None
        journal.sock.close()
