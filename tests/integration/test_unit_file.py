"""systemd/peon-sshd.service adds nothing to the jobs' shells: whatever the
unit sets is inherited by every process peon-sshd starts in a job."""
import os

from conftest import ROOT

UNIT = os.path.join(ROOT, "systemd", "peon-sshd.service")
# seccomp-based (shells would inherit the filter, and the kernel hands the
# job's own filters only to an unfiltered process), capability-narrowing,
# or a mount namespace of the service's own (--host sessions would see it).
INHERITED = {
    "SystemCallFilter", "SystemCallArchitectures", "SystemCallErrorNumber", "RestrictAddressFamilies",
    "RestrictNamespaces", "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID", "MemoryDenyWriteExecute",
    "ProtectClock", "ProtectKernelModules", "ProtectKernelLogs", "ProtectKernelTunables",
    "ProtectControlGroups", "ProtectHostname", "CapabilityBoundingSet", "NoNewPrivileges",
    "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateNetwork", "PrivateUsers",
    "ProtectProc", "ProcSubset", "ReadOnlyPaths", "InaccessiblePaths", "TemporaryFileSystem",
}


def directives():
    with open(UNIT) as f:
        return {line.split("=", 1)[0].strip(): line.split("=", 1)[1].strip()
                for line in f if "=" in line and not line.lstrip().startswith(("#", ";"))}


def test_unit_sets_nothing_the_shells_would_inherit():
    d = directives()
    set_and_on = {k for k in d if k in INHERITED and d[k].lower() not in ("no", "false", "")}
    assert not set_and_on, f"{UNIT} sets {sorted(set_and_on)}: every job's shell would inherit them"
    # Sessions outlive a restart of the daemon.
    assert d.get("KillMode") == "process"
