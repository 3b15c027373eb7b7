"""systemd units for the agent, the fan controller and the hub, one set per node.

The agent and the fan controller are ``Type=notify`` daemons: they send
``READY=1`` once they serve and ``WATCHDOG=1`` after each loop that did its
work (``microrack.sdnotify``), so systemd restarts one whose loop hangs.  A
start limit stops a daemon that crashes at once from restarting forever.  The
fan unit's ``ExecStopPost`` runs ``microrack fan ... --failsafe``, which sets
the fans to full: systemd runs it however the daemon ended, SIGKILL and
watchdog kills included.
"""

from __future__ import annotations

import shlex

from microrack.spec._model import ClusterSpec, Node, Role
from microrack.spec.render._text import HEADER

#: Where the hub listens on its node, and where it keeps its store.
HUB_PORT = 8080
HUB_STATE = "microrack-hub"

#: The fan controller steps every 2 s (its default config); a hung driver write
#: is noticed within a few missed steps.
FAN_WATCHDOG_S = 20


def _exec(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def agent_watchdog_s(spec: ClusterSpec) -> int:
    """Four missed collect loops, at least 20 s."""
    return max(20, int(4 * spec.agent.interval_s + 0.999))


def hub_nodes(spec: ClusterSpec) -> list[Node]:
    """Nodes with the ``hub`` role, else the first ``monitoring`` node, else none."""
    return spec.with_role(Role.HUB) or spec.with_role(Role.MONITORING)[:1]


_LIMITS = """StartLimitIntervalSec=300
StartLimitBurst=5"""


def _chaos_flags(node: Node) -> list[str]:
    """The agent's ``--chaos-*`` flags from the node's ``chaos:`` (none: no write endpoint)."""
    c = node.chaos
    if c is None or not c.allow:
        return []
    out = ["--chaos-token", c.token, "--chaos-allow", ",".join(c.allow)]
    for unit in c.units:
        out += ["--chaos-unit", unit]
    if c.fill_dir:
        out += ["--chaos-fill-dir", c.fill_dir]
    if c.max_lease_s is not None:
        out += ["--chaos-max-lease", f"{c.max_lease_s:g}"]
    return out


def agent_unit(spec: ClusterSpec, node: Node) -> str:
    argv = [
        spec.agent.command,
        "agent",
        "--listen",
        f"0.0.0.0:{node.agent_port}",
        "--interval",
        f"{spec.agent.interval_s:g}",
        "--node",
        node.name,
        "--board",
        node.board,
    ]
    argv += _chaos_flags(node)
    return (
        HEADER.format(name=spec.cluster.name)
        + f"""[Unit]
Description=microrack agent: telemetry of {node.name}
After=network-online.target
Wants=network-online.target
{_LIMITS}

[Service]
Type=notify
NotifyAccess=main
ExecStart={_exec(argv)}
WatchdogSec={agent_watchdog_s(spec)}
Restart=always
RestartSec=5
# The single-file install unpacks its native parts here on first start.
CacheDirectory=microrack-agent
# The agent only reads /proc and /sys: run it unprivileged and read-only.
DynamicUser=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
"""
    )


def fan_unit(spec: ClusterSpec, node: Node) -> str:
    argv = [spec.agent.command, "fan", "--board", node.board]
    return (
        HEADER.format(name=spec.cluster.name)
        + f"""[Unit]
Description=microrack fan controller of {node.name}
After=sysinit.target
{_LIMITS}

[Service]
Type=notify
NotifyAccess=main
ExecStart={_exec(argv)}
# However the controller ended (SIGTERM, SIGKILL, watchdog, crash): fans to full.
ExecStopPost={_exec([*argv, "--failsafe"])}
WatchdogSec={FAN_WATCHDOG_S}
KillSignal=SIGTERM
TimeoutStopSec=10
Restart=always
RestartSec=2
CacheDirectory=microrack-fan
# It writes PWM duty under /sys, so it runs as root but sees little else.
ProtectHome=yes
PrivateTmp=yes
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
"""
    )


def hub_unit(spec: ClusterSpec, node: Node) -> str:
    """The hub pulling every node's agent, its store under /var/lib."""
    argv = [
        spec.agent.command,
        "hub",
        "--listen",
        f"0.0.0.0:{HUB_PORT}",
        "--db",
        f"/var/lib/{HUB_STATE}/hub.db",
    ]
    for other in spec.nodes:
        argv += ["--agent", f"{other.address}:{other.agent_port}"]
    return (
        HEADER.format(name=spec.cluster.name)
        + f"""[Unit]
Description=microrack hub of {spec.cluster.name} on {node.name}
After=network-online.target
Wants=network-online.target
{_LIMITS}

[Service]
Type=simple
ExecStart={_exec(argv)}
Restart=on-failure
RestartSec=5
StateDirectory={HUB_STATE}
DynamicUser=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
"""
    )
