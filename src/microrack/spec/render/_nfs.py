"""NFS: ``/etc/exports`` of the nfs-server node and systemd mount units on its clients.

The exports file holds the spec's ``services.nfs.exports`` (one line per path, one
client entry per network) and one root export per netbooted node, open to that node's
address only (``no_root_squash``: the node's root user owns its root file system).
"""

from __future__ import annotations

from microrack.spec._boot import address_on, mounting_nodes, netbooted, nfs_server, root_path
from microrack.spec._model import ClusterSpec, NfsExport, Node
from microrack.spec.render._text import HEADER

__all__ = ["exports_file", "mount_unit", "nfs_files", "unit_name"]

ROOT_OPTIONS = "sync,no_subtree_check,no_root_squash"


def unit_name(where: str) -> str:
    """The mount unit name systemd requires for ``where`` (``systemd-escape --path``)."""
    path = where.strip("/")
    if not path:
        return "-.mount"
    out = []
    for i, ch in enumerate(path.encode()):
        c = chr(ch)
        if c == "/":
            out.append("-")
        elif c.isascii() and (c.isalnum() or c in ":_" or (c == "." and i > 0)):
            out.append(c)
        else:
            out.append(f"\\x{ch:02x}")
    return "".join(out) + ".mount"


def exports_file(spec: ClusterSpec) -> str:
    """``/etc/exports`` of the NFS server (exports(5))."""
    lines = [HEADER.format(name=spec.cluster.name).rstrip("\n")]
    by_path: dict[str, list[str]] = {}
    if spec.services.nfs is not None:
        for exp in spec.services.nfs.exports:
            net = spec.network(exp.network)
            if net is None:
                continue
            by_path.setdefault(exp.path, []).append(f"{net.cidr}({exp.options})")
    roots: dict[str, list[str]] = {}
    for node, nb in netbooted(spec):
        if nb.os == "talos" or nb.root != "nfs":
            continue
        mode = "ro" if nb.root_readonly else "rw"
        roots.setdefault(root_path(spec, node), []).append(
            f"{node.primary.address}({mode},{ROOT_OPTIONS})"
        )
    if by_path:
        lines.append("# shared exports (services.nfs)")
        lines += [f"{path} {' '.join(clients)}" for path, clients in by_path.items()]
    if roots:
        lines.append("# root file systems of netbooted nodes, each open to its node only")
        lines += [f"{path} {' '.join(clients)}" for path, clients in roots.items()]
    return "\n".join(lines) + "\n"


def mount_unit(spec: ClusterSpec, node: Node, export: NfsExport) -> str:
    """A systemd ``.mount`` unit on ``node`` for ``export`` (which has ``mount`` set)."""
    server = nfs_server(spec)
    assert export.mount is not None and server is not None
    net = spec.network(export.network)
    # Reach the server on the export's network, where the client's address is allowed.
    addr = address_on(server, net.name) if net else server.primary.address
    return (
        HEADER.format(name=spec.cluster.name)
        + f"""[Unit]
Description=NFS {export.path} from {server.name} on {node.name}
Wants=network-online.target
After=network-online.target

[Mount]
What={addr}:{export.path}
Where={export.mount}
Type=nfs
Options={export.mount_options}
TimeoutSec=60

[Install]
WantedBy=remote-fs.target
"""
    )


def node_mounts(spec: ClusterSpec, node: Node) -> list[tuple[str, str]]:
    """``(unit name, unit text)`` of every NFS mount of ``node``."""
    nfs = spec.services.nfs
    if nfs is None or nfs_server(spec) is None:
        return []
    return [
        (unit_name(exp.mount), mount_unit(spec, node, exp))
        for exp in nfs.exports
        if exp.mount is not None and node in mounting_nodes(spec, exp)
    ]


def nfs_files(spec: ClusterSpec) -> dict[str, str]:
    """``nfs/<server>/exports`` and ``systemd/<node>/<path>.mount`` for every client."""
    server = nfs_server(spec)
    if server is None:
        return {}
    has_roots = any(nb.os != "talos" and nb.root == "nfs" for _, nb in netbooted(spec))
    if spec.services.nfs is None and not has_roots:
        return {}
    files = {f"nfs/{server.name}/exports": exports_file(spec)}
    for node in spec.nodes:
        for name, text in node_mounts(spec, node):
            files[f"systemd/{node.name}/{name}"] = text
    return files
