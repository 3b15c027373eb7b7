"""systemd units for the agent and the fan controller, one set per node."""

from __future__ import annotations

import shlex

from microrack.spec._model import ClusterSpec, Node
from microrack.spec.render._text import HEADER


def _exec(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


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
    return (
        HEADER.format(name=spec.cluster.name)
        + f"""[Unit]
Description=microrack agent: telemetry of {node.name}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={_exec(argv)}
Restart=on-failure
RestartSec=5
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

[Service]
Type=simple
ExecStart={_exec(argv)}
# On SIGTERM the controller sets the fans to full before it exits.
KillSignal=SIGTERM
TimeoutStopSec=10
Restart=always
RestartSec=2
# It writes PWM duty under /sys, so it runs as root but sees little else.
ProtectHome=yes
PrivateTmp=yes
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
"""
    )
