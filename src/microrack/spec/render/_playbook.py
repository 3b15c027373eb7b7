"""An Ansible playbook beside the inventory: install microrack, lay down the units, start them.

It reads only what ``spec render`` wrote next to it (``../systemd/<node>/*``,
``../polkit/<node>/*.rules``, ``../dnsmasq.conf``) and the inventory's host
variables, so a re-render followed by a re-run is the whole update.  Every task
is idempotent: a second run with nothing changed reports ``changed=0``.

Install paths, both ending as the executable ``/usr/local/bin/microrack`` that the
units run (so the units are the same either way):

- ``pyz`` (default): the single file ``microrack build agent`` writes, copied
  as is; it needs only the board's ``python3`` (3.11 or newer).
- ``venv``: a wheel installed with its extras into ``/opt/microrack``, then
  linked; the hub's node uses it (the hub's web stack is not in the single file).
  With ``microrack_wheelhouse`` (a local directory of wheels) pip installs from it
  alone (``--no-index``), for boards without an index.
"""

from __future__ import annotations

from typing import Any

from microrack.spec._model import ClusterSpec

BIN = "/usr/local/bin/microrack"
VENV = "/opt/microrack"
UNIT_DIR = "/etc/systemd/system"

# Defaults by ``default()``, not play vars: play vars outrank the inventory, so a
# host's own ``microrack_extras`` in host_vars/group_vars would be ignored.
_PYZ = "(microrack_pyz | default(microrack_render + '/microrack-agent.pyz'))"
_WHEELHOUSE = "(microrack_wheelhouse | default(''))"
_EXTRAS = "(microrack_extras | default('fan,hub'))"


def _wheel() -> str:
    return f"(microrack_wheel | default(microrack_render + '/dist/{wheel_name()}'))"


def _install_tasks() -> list[dict[str, Any]]:
    pyz = "microrack_install == 'pyz'"
    venv = "microrack_install == 'venv'"
    return [
        {
            "name": "python3 is 3.11 or newer",
            "ansible.builtin.command": {
                "argv": ["python3", "-c", "import sys; sys.exit(sys.version_info < (3, 11))"]
            },
            "changed_when": False,
        },
        {
            "name": "microrack_install is pyz or venv",
            "ansible.builtin.assert": {
                "that": ["microrack_install in ['pyz', 'venv']"],
                "fail_msg": "microrack_install is {{ microrack_install }}: expected pyz or venv",
            },
        },
        {
            "name": f"the single-file agent as {BIN}",
            "ansible.builtin.copy": {
                "src": "{{ " + _PYZ + " }}",
                "dest": BIN,
                "mode": "0755",
                "owner": "root",
                "group": "root",
                "follow": False,
            },
            "when": pyz,
            "register": "microrack_bin",
        },
        {
            "name": "python3-venv for the venv (Debian splits it out)",
            "ansible.builtin.apt": {"name": "python3-venv", "state": "present"},
            "when": venv,
        },
        {
            "name": "the wheel for the venv",
            "ansible.builtin.copy": {
                "src": "{{ " + _wheel() + " }}",
                "dest": f"{VENV}-dist/",
                "mode": "0644",
            },
            "when": venv,
            "register": "microrack_dist",
        },
        {
            # Boards without an index: every wheel the install needs, from a local
            # directory (``pip download --only-binary=:all: --platform ...``).
            "name": "the wheelhouse for an offline venv",
            "ansible.builtin.copy": {
                "src": "{{ " + _WHEELHOUSE + " }}/",
                "dest": f"{VENV}-dist/wheelhouse/",
                "mode": "0644",
            },
            "when": f"{venv} and {_WHEELHOUSE} | length > 0",
            "register": "microrack_wheelhouse_copy",
        },
        {
            "name": f"a venv in {VENV}",
            "ansible.builtin.command": {
                "argv": ["python3", "-m", "venv", VENV],
                "creates": f"{VENV}/bin/python",
            },
            "when": venv,
        },
        {
            # pip itself, not Ansible's pip module: that one needs ``packaging`` in
            # the board's system Python.  Reinstalled (with its dependencies, from
            # the wheelhouse when there is one) only when the wheel or wheelhouse
            # changed, so a rebuilt wheel of the same version is taken too.
            "name": "the wheel and its extras in the venv",
            "ansible.builtin.command": {
                "argv": "{{ ['" + VENV + "/bin/pip', 'install', '--quiet', "
                "'--disable-pip-version-check', '--force-reinstall', '" + VENV + "-dist/'"
                " + (" + _wheel() + " | basename)"
                " + (('[' + " + _EXTRAS + " + ']') if " + _EXTRAS + " else '')]"
                " + (['--no-index', '--find-links', '" + VENV + "-dist/wheelhouse']"
                " if " + _WHEELHOUSE + " else []) }}",
            },
            "when": f"{venv} and (microrack_dist is changed"
            " or microrack_wheelhouse_copy is changed)",
            "register": "microrack_pip",
        },
        {
            "name": f"{BIN} runs the venv's command",
            "ansible.builtin.file": {
                "src": f"{VENV}/bin/microrack",
                "dest": BIN,
                "state": "link",
                "force": True,
            },
            "when": venv,
        },
    ]


def _unit_tasks() -> list[dict[str, Any]]:
    return [
        {
            "name": "the units rendered for this node",
            "ansible.builtin.copy": {
                "src": "{{ microrack_render }}/systemd/{{ inventory_hostname }}/{{ item }}",
                "dest": f"{UNIT_DIR}/{{{{ item }}}}",
                "mode": "0644",
            },
            "loop": "{{ microrack_units }}",
            "register": "microrack_unit_files",
        },
        {
            # only nodes whose chaos: allows crash have one; polkitd rereads rules.d itself
            "name": "the polkit rule letting the agent stop and start its crash units",
            "ansible.builtin.copy": {
                "src": "{{ item }}",
                "dest": "/etc/polkit-1/rules.d/",
                "mode": "0644",
            },
            "with_fileglob": "{{ microrack_render }}/polkit/{{ inventory_hostname }}/*.rules",
        },
        {
            "name": "systemd reads the new units",
            "ansible.builtin.systemd_service": {"daemon_reload": True},
            "when": "microrack_unit_files is changed",
        },
        {
            "name": "the units are enabled and running",
            "ansible.builtin.systemd_service": {
                "name": "{{ item }}",
                "enabled": True,
                "state": "started",
            },
            "loop": "{{ microrack_units }}",
            "register": "microrack_started",
        },
        {
            "name": "restart what runs an old unit or an old microrack",
            "ansible.builtin.systemd_service": {"name": "{{ item.item }}", "state": "restarted"},
            "loop": "{{ microrack_unit_files.results }}",
            "loop_control": {"label": "{{ item.item }}"},
            "when": (
                "(item is changed or microrack_bin is changed or microrack_pip is changed)"
                " and not (microrack_started.results | selectattr('item', 'equalto', item.item)"
                " | map(attribute='changed') | first)"
            ),
        },
    ]


def _dnsmasq_tasks() -> list[dict[str, Any]]:
    when = "microrack_dnsmasq"
    return [
        {
            "name": "dnsmasq is installed",
            "ansible.builtin.apt": {"name": "dnsmasq", "state": "present"},
            "when": when,
        },
        {
            "name": "the rendered dnsmasq.conf",
            "ansible.builtin.copy": {
                "src": "{{ microrack_render }}/dnsmasq.conf",
                "dest": "/etc/dnsmasq.d/microrack.conf",
                "mode": "0644",
            },
            "when": when,
            "register": "microrack_dnsmasq_conf",
        },
        {
            "name": "dnsmasq runs the rendered configuration",
            "ansible.builtin.systemd_service": {
                "name": "dnsmasq",
                "enabled": True,
                "state": "{{ 'restarted' if microrack_dnsmasq_conf is changed else 'started' }}",
            },
            "when": when,
        },
    ]


def wheel_name() -> str:
    """The file name ``pip wheel --no-deps -w dist .`` gives this version."""
    from microrack import __version__

    return f"microrack-{__version__.replace('-', '_')}-py3-none-any.whl"


def playbook(spec: ClusterSpec) -> list[dict[str, Any]]:
    """``ansible/playbook.yaml``: one play over every host of the inventory."""
    return [
        {
            "name": f"microrack on every node of {spec.cluster.name}",
            "hosts": "all",
            "become": True,
            "gather_facts": False,
            "vars": {
                "microrack_render": "{{ playbook_dir }}/..",
            },
            "tasks": _install_tasks() + _unit_tasks() + _dnsmasq_tasks(),
        }
    ]
