"""Kernel pseudo files kept open between reads: the same answers as a fresh open, always."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from microrack.sensors import LocalFS, read_many
from microrack.sensors._kept import KeptFiles, kernel_mounts
from support import require_binary, require_root


def test_kept_reads_equal_fresh_reads_of_this_hosts_proc_and_sys():
    kept, fresh = LocalFS("/", keep_open=True), LocalFS("/")
    assert kernel_mounts("/") == (True, True)
    stable = [
        "/proc/sys/kernel/ostype",
        "/proc/sys/fs/file-max",
        "/sys/class/net/lo/mtu",
        "/sys/devices/system/cpu/online",
    ]
    for _ in range(2):  # the first read opens, the second re-reads the kept file
        assert [kept.read_text(p) for p in stable] == [fresh.read_text(p) for p in stable]
    names = ["mtu", "type", "ifindex", "address", "operstate", "no_such_attribute"]
    for _ in range(2):
        assert read_many(kept, "/sys/class/net/lo", names) == read_many(
            fresh, "/sys/class/net/lo", names
        )
    # the single file below net/ is read afresh; lo's five attributes are kept, the absent one not
    assert kept.kept_files == len(stable) - 1 + 5 and fresh.kept_files == 0
    # re-read in place, not remembered: the kernel writes the file anew on each read
    first = kept.read_text("/proc/uptime")
    time.sleep(0.05)
    assert kept.read_text("/proc/uptime") != first


def test_what_names_a_process_or_a_net_device_is_never_kept():
    fs = LocalFS("/", keep_open=True)
    fs.read_text("/proc/self/stat")
    fs.read_text(f"/proc/{os.getpid()}/status")
    fs.read_text("/sys/class/net/lo/mtu")  # a single file below net/: a rename would move it
    assert fs.kept_files == 0
    if os.getpid() != 1:  # init outlives the agent: its mount table is kept
        assert fs.read_text("/proc/1/mounts") == LocalFS("/").read_text("/proc/1/mounts")
        assert fs.kept_files == 1
        fs = LocalFS("/", keep_open=True)
    assert read_many(fs, "/sys/class/net/lo", ["mtu"])["mtu"] == fs.read_text(
        "/sys/class/net/lo/mtu"
    )
    assert fs.kept_files == 1  # the directory, checked by inode on every read


def test_a_hand_built_tree_is_always_read_afresh(tmp_path: Path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "sys" / "class" / "net" / "eth0").mkdir(parents=True)
    (tmp_path / "proc" / "loadavg").write_text("0.1 0.2 0.3 1/100 42\n")
    (tmp_path / "sys" / "class" / "net" / "eth0" / "mtu").write_text("1500\n")
    assert kernel_mounts(str(tmp_path)) == (False, False)
    fs = LocalFS(str(tmp_path), keep_open=True)
    assert fs.read_text("/proc/loadavg").startswith("0.1")
    # a test rewrites a file by rename: a kept descriptor would go on reading the old one
    new = tmp_path / "proc" / "loadavg.new"
    new.write_text("9.9 0.2 0.3 1/100 42\n")
    new.replace(tmp_path / "proc" / "loadavg")
    assert fs.read_text("/proc/loadavg").startswith("9.9")
    assert read_many(fs, "/sys/class/net/eth0", ["mtu"]) == {"mtu": "1500\n"}
    assert fs.kept_files == 0


def test_a_directory_replaced_under_the_same_name_is_read_anew(tmp_path: Path):
    kept = KeptFiles()
    d = tmp_path / "dev0"
    d.mkdir()
    (d / "a").write_text("1\n")
    assert kept.read_many(str(d), ["a", "b"]) == {"a": "1\n", "b": None}
    (d / "a").write_text("2\n")  # rewritten in place: the kept descriptor sees it
    assert kept.read_many(str(d), ["a"]) == {"a": "2\n"}
    d.rename(tmp_path / "old")
    assert kept.read_many(str(d), ["a"]) == {"a": None}  # gone
    d.mkdir()
    (d / "a").write_text("3\n")
    assert kept.read_many(str(d), ["a"]) == {"a": "3\n"}  # another inode: opened afresh
    kept.close()
    assert len(kept) == 0


def test_no_more_descriptors_than_the_limit(tmp_path: Path):
    kept = KeptFiles(limit=2)
    for i in range(5):
        (tmp_path / f"f{i}").write_text(f"{i}\n")
    for _ in range(2):
        assert [kept.read(str(tmp_path / f"f{i}")) for i in range(5)] == [
            f"{i}\n" for i in range(5)
        ]
    assert len(kept) == 2


_NETNS_SCRIPT = textwrap.dedent("""
    import json, subprocess, sys
    from microrack.sensors import LocalFS, read_many
    root = sys.argv[1]
    subprocess.run(["mount", "-t", "sysfs", "sysfs", root + "/sys"], check=True)
    subprocess.run(["mount", "-t", "proc", "proc", root + "/proc"], check=True)
    def ip(*a):
        subprocess.run(["ip", "link", *a], check=True)
    fs = LocalFS(root, keep_open=True)
    def attrs(dev):
        got = read_many(fs, "/sys/class/net/" + dev, ["mtu", "ifindex"])
        sysctl = fs.read_text("/proc/sys/net/ipv6/conf/" + dev + "/mtu").strip()
        return {k: (v or "").strip() for k, v in got.items()} | {"sysctl_mtu": sysctl}
    ip("add", "mrka", "mtu", "1400", "type", "veth", "peer", "name", "mrkb", "mtu", "1300")
    out = {"before": [attrs("mrka"), attrs("mrkb")]}
    ip("set", "mrka", "name", "mrkt")  # swap the two names
    ip("set", "mrkb", "name", "mrka")
    ip("set", "mrkt", "name", "mrkb")
    out["swapped"] = [attrs("mrka"), attrs("mrkb")]
    ip("del", "mrka")  # the pair goes; a new device takes the name
    ip("add", "mrka", "mtu", "1280", "type", "bridge")
    out["recreated"] = attrs("mrka")
    out["fresh"] = {k: v.strip() for k, v in read_many(LocalFS(root), "/sys/class/net/mrka",
                                                       ["mtu", "ifindex"]).items()}
    out["kept"] = fs.kept_files
    print(json.dumps(out))
""")


def test_renamed_removed_and_recreated_devices_read_as_fresh_opens(tmp_path: Path):
    """A real sysfs and procfs of a private network namespace, devices renamed and replaced."""
    require_root()
    unshare = require_binary("unshare")
    require_binary("ip")
    for d in ("sys", "proc"):
        (tmp_path / d).mkdir()
    proc = subprocess.run(
        [
            unshare,
            "--net",
            "--mount",
            "--pid",
            "--fork",
            sys.executable,
            "-c",
            _NETNS_SCRIPT,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    a, b = out["before"]
    assert (a["mtu"], b["mtu"], a["sysctl_mtu"], b["sysctl_mtu"]) == (
        "1400",
        "1300",
        "1400",
        "1300",
    )
    assert out["swapped"] == [b, a]  # each name reads the device that now has it
    assert out["recreated"]["mtu"] == out["fresh"]["mtu"] == "1280"
    assert out["recreated"]["sysctl_mtu"] == "1280"
    assert out["recreated"]["ifindex"] == out["fresh"]["ifindex"] != a["ifindex"]
    assert out["kept"] > 0
