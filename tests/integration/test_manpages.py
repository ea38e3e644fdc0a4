"""peon-sshd.conf(5) documents exactly the settings config.c accepts.

config.c's set is taken from the program, not from a list kept here:
`peon-sshd -T` prints every setting; the -T output read back with -t
proves each printed name is accepted; and every identifier-like string in
config.c (and the channel kinds), tried as a setting in every group,
proves no accepted name is missing from -T."""
import os
import re
import subprocess

import pytest

from conftest import ROOT, SSHD

MAN5 = os.path.join(ROOT, "docs", "peon-sshd.conf.5")
CONFIG_C = os.path.join(ROOT, "peon-sshd", "config.c")
UTIL_C = os.path.join(ROOT, "peon-sshd", "util.c")


def run_sshd(tmp_path, body, flag):
    conf = tmp_path / "probe.conf"
    conf.write_text(f'peon_config = "{tmp_path}/none";\nhost_key_dir = "{tmp_path}/keys";\n' + body)
    return subprocess.run([SSHD, "-f", str(conf), flag], capture_output=True, text=True, timeout=20)


def settings_from_T(text):
    """Dotted names of the leaves (and groups) of -T's libconfig output."""
    leaves, groups, path = set(), set(), []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line in ("};",):
            path.pop()
            continue
        m = re.match(r"^([A-Za-z][\w-]*) = (\{)?", line)
        assert m, f"-T printed an unexpected line: {line!r}"
        name = ".".join(path + [m.group(1)])
        if m.group(2):
            groups.add(name)
            path.append(m.group(1))
        else:
            leaves.add(name)
    assert path == [], "unbalanced groups in -T output"
    return leaves, groups


def settings_from_man():
    """Each `.TP` + `.B name` entry under TOP-LEVEL SETTINGS and the `.SS group`
    sections of GROUPS, as dotted names, with the entry's text."""
    entries, section, group = {}, None, None
    lines = open(MAN5).read().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".SH "):
            section = line[4:].strip('"')
            group = "" if section == "TOP-LEVEL SETTINGS" else None
        elif line.startswith(".SS ") and section == "GROUPS":
            group = line[4:].strip('"')
        elif line == ".TP" and group is not None and lines[i + 1].startswith(".B "):
            name = lines[i + 1][3:].replace("\\-", "-").strip()
            text = []
            for more in lines[i + 2:]:
                if more.startswith((".TP", ".SS", ".SH")):
                    break
                text.append(more)
            full = f"{group}.{name}" if group else name
            assert full not in entries, f"{full} is documented twice"
            entries[full] = " ".join(text)
    return entries


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("manpages")
    r = run_sshd(tmp, "", "-T")
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_man_page_lists_every_setting_and_no_other(printed):
    leaves, groups = settings_from_T(printed)
    documented = settings_from_man()
    # A group itself (channel_timeout) is documented where it sits, too.
    known = leaves | groups
    missing = sorted(leaves - documented.keys())
    extra = sorted(documented.keys() - known)
    assert not missing, f"settings config.c accepts but peon-sshd.conf(5) does not list: {missing}"
    assert not extra, f"peon-sshd.conf(5) lists settings config.c does not accept: {extra}"
    for name, text in documented.items():
        assert "default" in text, f"{name}: the man page gives no default"


def test_printed_configuration_is_accepted_back(printed, tmp_path):
    # Every name -T prints is one config.c loads (a typo in -T would fail here).
    # Every name -T prints is one config.c loads, and every value one it
    # takes back (token_file = "" once was not). The two paths run_sshd
    # sets are left out: a setting may not be given twice.
    body = re.sub(r'^(peon_config|host_key_dir) = .*$', r'# \1', printed, flags=re.M)
    r = run_sshd(tmp_path, body, "-t")
    assert r.returncode == 0, r.stderr


def candidate_names():
    src = open(CONFIG_C).read()
    names = set(re.findall(r'"([a-z][a-z0-9_-]*)"', src))
    names |= set(re.findall(r"\b(?:LIM|ALG)\(([a-z]\w*)", src))
    util = open(UTIL_C).read()
    kinds = re.search(r"chan_idle_names\[IDLE_N\] = \{(.*?)\}", util, re.S)
    assert kinds, "chan_idle_names not found in util.c"
    names |= set(re.findall(r'"([a-z][a-z0-9_-]*)"', kinds.group(1)))
    return sorted(names)


def wrap(group, setting):
    """`a.b` + `x = 1;` -> `a = { b = { x = 1; }; };`"""
    body = f"{setting} = 1;"
    for part in reversed(group.split(".") if group else []):
        body = f"{part} = {{ {body} }};"
    return body + "\n"


def test_no_accepted_setting_is_missing_from_T(printed, tmp_path):
    """Every string of config.c tried as a setting in every group: whatever
    config.c does not call unknown (accepted, or refused for its value) must
    be one -T prints. An integer value: privsep checks the type first."""
    leaves, groups = settings_from_T(printed)
    known = leaves | groups
    accepted_unprinted = []
    for group in [""] + sorted(groups):
        for name in candidate_names():
            full = f"{group}.{name}" if group else name
            if full in known:
                continue
            r = run_sshd(tmp_path, wrap(group, name), "-t")
            # libconfig's own words (true, false) cannot name a setting.
            if "unknown" not in r.stderr and "syntax error" not in r.stderr:
                accepted_unprinted.append((full, r.stderr.strip()))
    assert not accepted_unprinted, f"config.c accepts settings -T does not print: {accepted_unprinted}"
