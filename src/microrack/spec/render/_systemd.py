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

import json
import shlex
from dataclasses import dataclass

from microrack.spec._model import ClusterSpec, Node, Role
from microrack.spec.render._text import HEADER

#: Where the hub listens on its node, and where it keeps its store.
HUB_PORT = 8080
HUB_STATE = "microrack-hub"

#: The fan controller steps every 2 s (its default config); a hung driver write
#: is noticed within a few missed steps.
FAN_WATCHDOG_S = 20


def _exec(argv: list[str]) -> str:
    # "%" starts a unit-file specifier; the credential's path is left to systemd's ${VAR}
    return " ".join(a if a == _TOKEN_ARG else shlex.quote(a).replace("%", "%%") for a in argv)


def _path(path: str) -> str:
    """A path as a unit-file value: specifiers escaped, quoted when it holds a space or quote."""
    p = path.replace("%", "%%")
    if any(c.isspace() or c in "\"'\\" for c in p):
        p = '"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return p


def agent_watchdog_s(spec: ClusterSpec) -> int:
    """Four missed collect loops, at least 20 s."""
    return max(20, int(4 * spec.agent.interval_s + 0.999))


def hub_nodes(spec: ClusterSpec) -> list[Node]:
    """Nodes with the ``hub`` role, else the first ``monitoring`` node, else none."""
    return spec.with_role(Role.HUB) or spec.with_role(Role.MONITORING)[:1]


_LIMITS = """StartLimitIntervalSec=300
StartLimitBurst=5"""

#: The agent's dynamic user, named after its unit: the polkit rule names it.
AGENT_USER = "microrack-agent"
#: Under /var/lib: the chaos state file and the fan override file, kept across restarts.
AGENT_STATE = "microrack-agent"
CHAOS_STATE = f"/var/lib/{AGENT_STATE}/chaos-state.json"
FAN_OVERRIDE = f"/var/lib/{AGENT_STATE}/fan-override.json"
#: The crash kind's polkit rule, in /etc/polkit-1/rules.d/ (rendered as polkit/<node>/...).
POLKIT_RULE = "50-microrack-chaos.rules"
#: The token reaches the agent as a systemd credential (it cannot read root's 0600 file).
CREDENTIAL = "chaos.token"
_TOKEN_ARG = "${CREDENTIALS_DIRECTORY}/" + CREDENTIAL
#: systemd's own directory settings, which create the directory owned by the service user.
_MANAGED_DIRS = (
    ("/var/lib/", "StateDirectory"),
    ("/var/cache/", "CacheDirectory"),
    ("/var/log/", "LogsDirectory"),
)


@dataclass(frozen=True, slots=True)
class ChaosRights:
    """What the agent's unit gains for the fault kinds its node allows, and nothing else."""

    service: tuple[str, ...]  # [Service] lines
    polkit: str | None  # a polkit rule letting the agent's user stop and start the crash units


def _unit_name(target: str) -> str:
    return target if "." in target else f"{target}.service"


def _polkit_rule(units: list[str]) -> str:
    """A polkit rule: the agent's user may start and stop exactly ``units``, nothing else."""
    names = json.dumps(sorted({_unit_name(u) for u in units}))
    return f"""// microrack chaos: the agent may stop and start these units (crash faults).
polkit.addRule(function(action, subject) {{
    if (action.id == "org.freedesktop.systemd1.manage-units" &&
        subject.user == "{AGENT_USER}") {{
        var verb = action.lookup("verb");
        if ((verb == "start" || verb == "stop") &&
            {names}.indexOf(action.lookup("unit")) >= 0) {{
            return polkit.Result.YES;
        }}
    }}
}});
"""


def chaos_rights(node: Node) -> ChaosRights:
    """The extra rights of ``node``'s agent unit, kind by kind (docs/deploy.md lists them)."""
    c = node.chaos
    if c is None or not c.allow:
        return ChaosRights((), None)
    allow = set(c.allow)
    states = [AGENT_STATE]
    caps: list[str] = []
    lines = [f"LoadCredential={CREDENTIAL}:{c.token.replace('%', '%%')}"]
    polkit = None
    if "partition" in allow:  # nft and tc: the network's admin, nothing else
        caps.append("CAP_NET_ADMIN")
    if "throttle" in allow:  # root's cpufreq files, and only those writable
        caps.append("CAP_DAC_OVERRIDE")
        lines += ["ProtectKernelTunables=yes", "ReadWritePaths=/sys/devices/system/cpu"]
    if "pressure" in allow:  # the burner's cgroup below the agent's own, with these controllers
        lines.append("Delegate=cpu memory")
    if "crash" in allow:
        systemd = [u for u in c.units if u.partition(":")[0] not in ("podman", "docker")]
        if systemd:
            polkit = _polkit_rule(systemd)
        if any(u.startswith("docker:") for u in c.units):
            lines.append("SupplementaryGroups=docker")  # the docker socket's group (root-like)
    if "disk_fill" in allow and c.fill_dir:
        fill = c.fill_dir.rstrip("/") or "/"
        plain = _path(fill) == fill  # systemd's own directories take no quoting
        for prefix, setting in _MANAGED_DIRS if plain else ():
            if fill.startswith(prefix):
                if setting == "StateDirectory":
                    states.append(fill[len(prefix) :])
                else:
                    lines.append(f"{setting}={fill[len(prefix) :]}")
                break
        else:
            # under /tmp or /var/tmp PrivateTmp= would hide it: bound in from the host
            private = any(fill == t or fill.startswith(t + "/") for t in ("/tmp", "/var/tmp"))
            lines.append(f"{'BindPaths' if private else 'ReadWritePaths'}={_path(fill)}")
    lines.append(f"StateDirectory={' '.join(states)}")
    if caps:
        caps_line = " ".join(caps)
        lines += [f"AmbientCapabilities={caps_line}", f"CapabilityBoundingSet={caps_line}"]
    else:
        lines.append("CapabilityBoundingSet=")
    return ChaosRights(tuple(lines), polkit)


def _chaos_flags(node: Node) -> list[str]:
    """The agent's ``--chaos-*`` flags from the node's ``chaos:`` (none: no write endpoint)."""
    c = node.chaos
    if c is None or not c.allow:
        return []
    out = ["--chaos-token", _TOKEN_ARG, "--chaos-allow", ",".join(c.allow)]
    for unit in c.units:
        out += ["--chaos-unit", unit]
    if c.fill_dir:
        out += ["--chaos-fill-dir", c.fill_dir]
    if c.max_lease_s is not None:
        out += ["--chaos-max-lease", f"{c.max_lease_s:g}"]
    return [*out, "--chaos-state", CHAOS_STATE]


def _allows(node: Node, kind: str) -> bool:
    return node.chaos is not None and kind in node.chaos.allow


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
    rights = chaos_rights(node)
    chaos = ""
    if rights.service and node.chaos is not None:
        chaos = (
            f"# Fault injection ({', '.join(node.chaos.allow)}): "
            "exactly the rights those kinds need.\n" + "\n".join(rights.service) + "\n"
        )
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
{chaos}
[Install]
WantedBy=multi-user.target
"""
    )


def fan_unit(spec: ClusterSpec, node: Node) -> str:
    argv = [spec.agent.command, "fan", "--board", node.board]
    # a fan_stall fault reaches this controller through the agent's override file
    stall = ["--chaos-override", FAN_OVERRIDE] if _allows(node, "fan_stall") else []
    return (
        HEADER.format(name=spec.cluster.name)
        + f"""[Unit]
Description=microrack fan controller of {node.name}
After=sysinit.target
{_LIMITS}

[Service]
Type=notify
NotifyAccess=main
ExecStart={_exec([*argv, *stall])}
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
