"""The agent on a simulated board that crashes and reboots behaves as on a real one."""

from __future__ import annotations

import http.client

from microrack.agent import Agent, AgentConfig
from microrack.sim import open_node


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_crashed_twin_goes_silent_and_reboot_starts_a_new_agent_life(tmp_path):
    script = tmp_path / "node.yaml"
    script.write_text("faults:\n  - {at: 100, kind: crash, duration: 60}\n")
    clock = _Clock()
    twin = open_node("pi4b", seed=3, script=script, clock=clock)
    agent = Agent(AgentConfig(host="127.0.0.1", port=0, interval=3600, node="t"), fs=twin)
    agent.start()
    try:
        host, port = agent.address
        first_boot = agent.boot_id
        for _ in range(3):
            agent.collect_once()
        assert agent.ring.last_seq >= 3
        assert agent.beacon_payload() is not None

        clock.now = 120.0  # inside the crash
        assert not agent.reachable()
        assert agent.beacon_payload() is None
        conn = http.client.HTTPConnection(host, port, timeout=5)
        try:
            conn.request("GET", "/metrics")
            try:
                conn.getresponse()
                answered = True
            except (http.client.RemoteDisconnected, ConnectionError):
                answered = False
        finally:
            conn.close()
        assert not answered, "a crashed board must not answer"

        clock.now = 200.0  # rebooted
        assert agent.reachable()
        agent._follow_board()
        agent.collect_once()
        assert agent.boot_id != first_boot
        assert agent.ring.last_seq == 1  # a new life starts its ring from scratch
        conn = http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", "/api/v1/samples?since=0")
        body = conn.getresponse().read()
        conn.close()
        assert agent.boot_id.encode() in body
    finally:
        agent.stop()
