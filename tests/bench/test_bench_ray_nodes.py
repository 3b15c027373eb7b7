"""net and mixed on a real two-node Ray cluster (two raylets on this host)."""

from __future__ import annotations

import importlib.util

import pytest

from microrack.bench import NetParams
from microrack.bench.mixed import MixedParams, expected_checksum, run_mixed
from microrack.bench.net import expected_all_to_all, run_net
from support import missing

pytestmark = pytest.mark.integration

RESOURCES = {"cpu": 1, "io": 1, "net": 1}


@pytest.fixture(scope="module")
def two_nodes():
    if importlib.util.find_spec("ray") is None:
        missing("ray (PyPI; pip install 'microrack[ray]')")
    from ray.cluster_utils import Cluster

    from microrack.bench.ray_engine import open_ray

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": RESOURCES})
    try:
        cluster.add_node(num_cpus=1, resources=RESOURCES)
        cluster.wait_for_nodes()
        with open_ray(cluster.address) as bench:
            yield bench
    finally:
        cluster.shutdown()


def test_net_between_actors_on_two_nodes(two_nodes):
    assert [w.node for w in two_nodes.workers] == ["node0", "node1"]
    assert not two_nodes.embedded
    net = run_net(
        two_nodes, NetParams(round_trips=40, stream_bytes=3 << 20, all_to_all_bytes=32 << 10)
    )
    pair = "node0-node1"
    assert net.details["same_node_pairs"] == {pair: False}
    for transport in ("tcp", "ray"):
        assert net.get("echo_ok", pair=pair, transport=transport).value == 1
        assert net.get("bytes_received", pair=pair, transport=transport).value == 3 << 20
    assert net.details["all_to_all_endpoints"] == 2
    assert net.details["all_to_all_crc"] == list(expected_all_to_all(2, 32 << 10).values())


def test_mixed_places_tasks_on_the_ray_nodes(two_nodes, tmp_path):
    params = MixedParams(width=4, int_elements=1 << 10, rounds=2)
    mixed = run_mixed(two_nodes, params, str(tmp_path))
    assert mixed.get("checksum", stealing="n/a").value == expected_checksum(params, 2)
    placed = {(m.label("node"), m.label("kind")): m.value for m in mixed.all("tasks_placed")}
    assert {n for n, _ in placed} == {"node0", "node1"}
    for kind, count in (("cpu", 4), ("io", 4), ("shuffle", 2), ("final", 1)):
        assert placed["node0", kind] + placed["node1", kind] == count
    assert {t["node"] for t in mixed.details["runs"]["n/a"]["timeline"]} <= {"node0", "node1"}
