"""The HostFS implementations: LocalFS under a root, and the in-memory MemoryFS of quirk tests."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from microrack.sensors import HostFS, LocalFS, MemoryFS


def test_localfs_reads_a_file_larger_than_its_buffer(tmp_path: Path):
    # a k3s node's /proc/self/mountinfo runs to hundreds of KiB; nothing may be cut off
    (tmp_path / "proc").mkdir()
    text = "".join(
        f"{i} 1 0:{i} / /var/lib/kubelet/pods/{i:08d}/volumes rw - tmpfs tmpfs rw\n"
        for i in range(12000)
    )
    assert len(text) > 3 * 256 * 1024
    (tmp_path / "proc" / "mountinfo").write_text(text)
    assert LocalFS(str(tmp_path)).read_text("/proc/mountinfo") == text


def test_localfs_reads_real_proc_files_whole():
    fs = LocalFS("/")
    stat = fs.read_text("/proc/self/stat")
    assert stat.rstrip().endswith(stat.split()[-1]) and ")" in stat
    assert fs.read_text("/proc/self/status").count("\n") > 10


def test_localfs_bad_bytes_are_replaced_not_raised(tmp_path: Path):
    (tmp_path / "f").write_bytes(b"ok \xff\xfe\n")
    assert LocalFS(str(tmp_path)).read_text("/f") == "ok \ufffd\ufffd\n"


def test_memoryfs_is_a_hostfs_with_dirs_links_and_errors():
    fs = MemoryFS(
        {
            "/sys/devices/a/hwmon/hwmon0/name": "x\n",
            "/sys/devices/a/hwmon/hwmon0/temp1_input": OSError(errno.EIO, "I/O error"),
        },
        links={"/sys/class/hwmon/hwmon0": "../../devices/a/hwmon/hwmon0"},
    )
    assert isinstance(fs, HostFS)
    assert fs.listdir("/sys/class/hwmon") == ["hwmon0"]
    assert fs.listdir("/sys/class/hwmon/hwmon0") == ["name", "temp1_input"]
    assert fs.read_text("/sys/class/hwmon/hwmon0/name") == "x\n"
    assert fs.realpath("/sys/class/hwmon/hwmon0") == "/sys/devices/a/hwmon/hwmon0"
    assert fs.exists("/sys/devices/a") and not fs.exists("/sys/devices/b")
    with pytest.raises(OSError) as e:
        fs.read_text("/sys/class/hwmon/hwmon0/temp1_input")
    assert e.value.errno == errno.EIO
    with pytest.raises(FileNotFoundError):
        fs.read_text("/proc/nope")
    with pytest.raises(IsADirectoryError):
        fs.read_text("/sys/devices")
