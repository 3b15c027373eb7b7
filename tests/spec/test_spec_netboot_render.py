"""Network boot, NFS and first-boot files, each checked by the program that reads them.

- ``/etc/exports``: Debian's ``exportfs -ra`` in a private mount namespace, with the
  rendered file bound over /etc/exports, a private /var/lib/nfs and the exported paths
  on a tmpfs.  This machine's kernel has no nfsd (no /proc/fs/nfsd, no modules), so
  exportfs parses the file, resolves every client and writes the export table
  (``etab``, what mountd serves from) without handing it to a kernel server.
- mount units: ``systemd-analyze verify`` (which also checks that the unit's name is
  its escaped ``Where=``), and the names against ``systemd-escape --path``.
- cloud-init seeds: ``cloud-init schema`` over every rendered ``user-data``.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import spec_cases
import yaml
from spec_cases import write

from microrack.spec import load_spec
from microrack.spec.render import render, render_to
from microrack.spec.render._nfs import unit_name
from support import missing, require_binary, require_root

EXAMPLES = spec_cases.examples()
PI2 = spec_cases.EXAMPLES / "cluster-pi2-5.yaml"


def _run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)


def _pi2() -> dict[str, Any]:
    return yaml.safe_load(PI2.read_text())


def _exportfs(tmp: Path, exports: Path, paths: list[str]) -> subprocess.CompletedProcess[str]:
    """``exportfs -ra`` on ``exports`` in a private mount namespace; prints the etab after."""
    exportfs = require_binary("exportfs", "/usr/sbin/exportfs")
    require_root()
    unshare = require_binary("unshare")
    assert all(p.startswith("/srv/") for p in paths), paths
    lib = tmp / "var-lib-nfs"
    lib.mkdir()
    script = "\n".join(
        [
            "set -e",
            f"mount --bind {exports} /etc/exports",
            f"mount --bind {lib} /var/lib/nfs",
            "mkdir -p /srv && mount -t tmpfs microrack-test /srv",
            *[f"mkdir -p '{p}'" for p in paths],
            f"{exportfs} -ra",
            "cat /var/lib/nfs/etab",
        ]
    )
    r = _run([unshare, "--mount", "--propagation", "private", "sh", "-c", script])
    if "unshare failed" in r.stderr or "Operation not permitted" in r.stderr:
        missing(f"a private mount namespace for exportfs ({r.stderr.strip()})")
    return r


def _exported_paths(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines() if line and not line.startswith("#")]


def test_exportfs_accepts_the_rendered_exports(tmp_path: Path) -> None:
    files = render(load_spec(write(tmp_path, _pi2())))
    text = files["nfs/master/exports"].decode()
    paths = _exported_paths(text)
    assert paths == ["/srv/jobs"] + [f"/srv/nfsroot/node-{i}" for i in range(1, 5)]
    exports = tmp_path / "exports"
    exports.write_text(text)
    r = _exportfs(tmp_path, exports, paths)
    assert r.returncode == 0 and not r.stderr, r.stderr
    etab = {line.split("\t")[0]: line.split("\t")[1] for line in r.stdout.splitlines()}
    assert etab["/srv/jobs"].startswith("198.18.2.0/24(rw,sync,")
    # Each node's root is open to that node's address only, with root not squashed.
    for i in range(1, 5):
        entry = etab[f"/srv/nfsroot/node-{i}"]
        assert entry.startswith(f"198.18.2.1{i}(rw,") and "no_root_squash" in entry, entry


def test_exportfs_rejects_a_broken_exports_file(tmp_path: Path) -> None:
    """The check can fail: an option exportfs does not know is an error."""
    exports = tmp_path / "exports"
    exports.write_text("/srv/jobs 198.18.2.0/24(rw,sync,no_such_option)\n")
    r = _exportfs(tmp_path, exports, ["/srv/jobs"])
    assert r.returncode != 0 and "no_such_option" in r.stderr, r.stderr


def test_exportfs_accepts_every_option_the_spec_accepts(tmp_path: Path) -> None:
    """The spec's list of export options is no wider than what exportfs takes."""
    from microrack.spec._model import NFS_EXPORT_FLAGS, NFS_EXPORT_VALUED

    values = {"anonuid": "1000", "anongid": "1000", "mountpoint": "/srv/e", "mp": "/srv/e",
              "fsid": "7", "refer": "/e@198.18.2.1", "replicas": "/e@198.18.2.1",
              "sec": "sys"}  # fmt: skip
    assert set(values) == NFS_EXPORT_VALUED
    options = sorted(NFS_EXPORT_FLAGS) + [f"{k}={v}" for k, v in sorted(values.items())]
    data = _pi2()
    data["services"]["nfs"]["exports"] = [
        {"path": f"/srv/e{i}", "network": "lan", "options": f"{opt},no_subtree_check"}
        for i, opt in enumerate(options)
    ]
    text = render(load_spec(write(tmp_path, data)))["nfs/master/exports"].decode()
    exports = tmp_path / "exports"
    exports.write_text(text)
    r = _exportfs(tmp_path, exports, [*_exported_paths(text), "/srv/e"])
    assert r.returncode == 0 and not r.stderr, r.stderr


def test_shared_read_only_root_is_one_export_line(tmp_path: Path) -> None:
    data = _pi2()
    for node in data["nodes"][1:]:
        node["netboot"] = {"firmware": "rpi", "root_path": "/srv/nfsroot/shared",
                           "root_readonly": True}  # fmt: skip
    text = render(load_spec(write(tmp_path, data)))["nfs/master/exports"].decode()
    (line,) = [ln for ln in text.splitlines() if ln.startswith("/srv/nfsroot/")]
    assert line.split()[1:] == [
        f"198.18.2.1{i}(ro,sync,no_subtree_check,no_root_squash)" for i in range(1, 5)
    ]
    exports = tmp_path / "exports"
    exports.write_text(text)
    r = _exportfs(tmp_path, exports, _exported_paths(text))
    assert r.returncode == 0 and not r.stderr, r.stderr


@pytest.mark.parametrize("where", ["/srv/jobs", "/srv/my-jobs", "/mnt/data.v2/.cache", "/srv/ü"])
def test_mount_unit_names_match_systemd_escape(where: str) -> None:
    escape = require_binary("systemd-escape")
    r = _run([escape, "--path", "--suffix=mount", where])
    assert r.returncode == 0, r.stderr
    assert unit_name(where) == r.stdout.strip()


def test_mount_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = require_binary("systemd-analyze")
    data = _pi2()
    # A second export with a name systemd must escape, mounted on two nodes only.
    data["services"]["nfs"]["exports"].append(
        {"path": "/srv/data-sets", "network": "lan", "mount": "/mnt/data-sets",
         "mount_on": ["node-1", "node-2"], "options": "ro,sync,no_subtree_check"}
    )  # fmt: skip
    out = tmp_path / "out"
    render_to(load_spec(write(tmp_path, data)), out)
    units = sorted(out.glob("systemd/*/*.mount"))
    names = sorted(f"{u.parent.name}/{u.name}" for u in units)
    assert names == sorted(
        [f"node-{i}/srv-jobs.mount" for i in range(1, 5)]
        + ["node-1/mnt-data\\x2dsets.mount", "node-2/mnt-data\\x2dsets.mount"]
    )
    for unit in units:
        r = _run([analyze, "verify", str(unit)])
        assert r.returncode == 0 and not r.stderr.strip(), f"{unit}: {r.stderr}"
        text = unit.read_text()
        assert "Type=nfs" in text and "What=198.18.2.10:/srv/" in text


def test_systemd_analyze_rejects_a_misnamed_mount_unit(tmp_path: Path) -> None:
    """The check can fail: a mount unit whose name is not its Where= is refused."""
    analyze = require_binary("systemd-analyze")
    text = render(load_spec(write(tmp_path, _pi2())))["systemd/node-1/srv-jobs.mount"].decode()
    bad = tmp_path / "srv-other.mount"
    bad.write_text(text)
    r = _run([analyze, "verify", str(bad)])
    assert r.returncode != 0 and "Where=" in r.stderr, r.stderr


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.name)
def seeds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp(request.param.stem)
    data = copy.deepcopy(yaml.safe_load(request.param.read_text()))
    out = tmp / "out"
    render_to(load_spec(write(tmp, data)), out)
    return out


def test_cloud_init_schema_accepts_every_user_data(seeds: Path) -> None:
    cloud_init = require_binary("cloud-init")
    files = sorted(seeds.glob("cloud-init/*/user-data"))
    assert files
    for f in files:
        r = _run([cloud_init, "schema", "--config-file", str(f)])
        assert r.returncode == 0 and "Valid cloud-config" in r.stdout, f"{f}: {r.stdout}{r.stderr}"
        meta = yaml.safe_load((f.parent / "meta-data").read_text())
        assert meta["local-hostname"] == f.parent.name and meta["instance-id"]


def test_cloud_init_schema_rejects_a_broken_user_data(tmp_path: Path) -> None:
    """The check can fail: a wrongly typed key is a schema error."""
    cloud_init = require_binary("cloud-init")
    bad = tmp_path / "user-data"
    bad.write_text("#cloud-config\nusers: 5\n")
    r = _run([cloud_init, "schema", "--config-file", str(bad)])
    assert r.returncode != 0


def test_user_data_installs_and_starts_the_playbook_units(tmp_path: Path) -> None:
    from microrack.spec.render._systemd import agent_unit, fan_unit

    data = _pi2()
    data["nodes"][0]["fan"] = True
    data["first_boot"]["agent_sha256"] = "ab" * 32
    spec = load_spec(write(tmp_path, data))
    doc = yaml.safe_load(render(spec)["cloud-init/master/user-data"])
    master = spec.nodes[0]
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    assert files == {
        "/etc/systemd/system/microrack-agent.service": agent_unit(spec, master),
        "/etc/systemd/system/microrack-fan.service": fan_unit(spec, master),
    }
    assert doc["hostname"] == "master" and doc["fqdn"] == "master.dramble.lab.internal"
    (user,) = doc["users"]
    assert (
        user["name"] == "pi"
        and user["ssh_authorized_keys"] == data["first_boot"]["ssh_authorized_keys"]
    )
    install = doc["runcmd"][0][2]
    assert "http://198.18.2.10:8000/microrack" in install
    assert "sha256sum -c" in install and "ab" * 32 in install
    assert install.endswith("mv /usr/local/bin/microrack.part /usr/local/bin/microrack")
    assert doc["runcmd"][-1] == [
        "systemctl", "enable", "--now", "microrack-agent.service", "microrack-fan.service",
    ]  # fmt: skip
    # Netbooted nodes boot their NFS root, not a seed.
    assert not any(p.startswith("cloud-init/node-") for p in render(spec))


def test_install_step_runs_against_a_local_http_server(tmp_path: Path) -> None:
    """The seed's install command, run by sh, fetches the agent and checks its hash."""
    import hashlib
    import http.server
    import threading

    require_binary("curl")
    payload = b"#!/bin/sh\necho microrack\n"
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "microrack").write_bytes(payload)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(tmp_path / "www")
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        data = _pi2()
        dest = tmp_path / "bin" / "microrack"
        data["agent"] = {"command": str(dest)}
        url = f"http://127.0.0.1:{server.server_address[1]}/microrack"
        for sha, ok in ((hashlib.sha256(payload).hexdigest(), True), ("00" * 32, False)):
            data["first_boot"].update(agent_url=url, agent_sha256=sha)
            spec = load_spec(write(tmp_path, data))
            doc = yaml.safe_load(render(spec)["cloud-init/master/user-data"])
            r = _run(doc["runcmd"][0])
            assert (r.returncode == 0) == ok, r.stderr
            if ok:
                assert dest.read_bytes() == payload and dest.stat().st_mode & 0o111
                dest.unlink()
            else:
                assert not dest.exists()
    finally:
        server.shutdown()
        server.server_close()
