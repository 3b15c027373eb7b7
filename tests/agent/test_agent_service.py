"""The agent in-process: ring buffer, HTTP endpoints and the signed beacon."""

from __future__ import annotations

import itertools
import json
import math
import shutil
import time
from pathlib import Path

import pytest

from microrack import beacon
from microrack.agent import Agent, AgentConfig, RingBuffer
from microrack.agent._wire import encode_rows
from microrack.sample import NodeIdentity, Point, Sample, SeriesKey, decode_batch, encode_batch
from microrack.sensors import LocalFS
from support import free_port, http_get

TREES = Path(__file__).resolve().parent.parent / "fixtures" / "trees"


def _sample(seq: int, keys: list[SeriesKey]) -> Sample:
    points = tuple(Point(k, float(seq * 10 + i)) for i, k in enumerate(keys))
    return Sample(seq, 1000.0 + seq, points)


def test_samples_body_is_exactly_encode_batch():
    keys = [SeriesKey.of("a"), SeriesKey.of("b", "counter", device="x"), SeriesKey.of("c")]
    ring = RingBuffer(4)
    for seq in range(1, 7):
        chosen = keys if seq % 3 else keys[:1] + keys[2:]
        s = _sample(seq, chosen)
        if seq == 5:  # not finite: null on the wire
            s = Sample(5, s.ts, (Point(keys[0], math.inf), *s.points[1:]))
        ring.append(s)
    node = NodeIdentity("n", "rpi-5", "127.0.0.1", 9101, "boot", 5.0)
    for since in (0, 2, 3, 5, 6, 99):
        first, last, rows = ring.window(since)
        expected = encode_batch(node, ring.first_seq, ring.last_seq, ring.since(since))
        assert (first, last) == (3, 6)
        assert (
            encode_rows(node, first, last, rows)
            == json.dumps(expected, separators=(",", ":")).encode()
        )
    assert [
        s.seq for s in decode_batch(json.loads(encode_rows(node, 3, 6, ring.window(0)[2]))).samples
    ] == [3, 4, 5, 6]


def test_ring_keeps_the_newest_and_shares_layouts():
    a, b = SeriesKey.of("a"), SeriesKey.of("b", "counter", device="x")
    ring = RingBuffer(3)
    for seq in range(1, 6):
        ring.append(_sample(seq, [a, b] if seq != 4 else [a]))
    assert (len(ring), ring.first_seq, ring.last_seq) == (3, 3, 5)
    got = ring.since(3)
    assert [s.seq for s in got] == [4, 5]
    assert got[0].points == (Point(a, 40.0),)
    assert got[1].points == (Point(a, 50.0), Point(b, 51.0))
    assert [s.seq for s in ring.since(0)] == [3, 4, 5]
    assert ring.since(5) == []
    with pytest.raises(ValueError):
        ring.append(_sample(5, [a]))


@pytest.fixture
def agent(tmp_path):
    tree = tmp_path / "pi5"
    shutil.copytree(TREES / "rpi5-nvme", tree, symlinks=True)
    cfg = AgentConfig(host="127.0.0.1", port=0, interval=0.2, node="pi5-a", board=None, buffer=5)
    a = Agent(cfg, LocalFS(str(tree)))
    a.start()
    yield a
    a.stop()


def _url(a: Agent, path: str) -> str:
    host, port = a.address
    return f"http://{host}:{port}{path}"


def _wait_seq(a: Agent, seq: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while a.ring.last_seq < seq:
        assert time.monotonic() < deadline, "agent stopped collecting"
        time.sleep(0.05)


def test_endpoints(agent):
    _wait_seq(agent, 7)  # more collections than the ring holds
    status, body = http_get(_url(agent, "/api/v1/samples?since=0"))
    assert status == 200
    batch = decode_batch(json.loads(body))
    assert batch.node.boot_id == agent.boot_id and batch.node.name == "pi5-a"
    assert batch.node.port == agent.address[1]
    seqs = [s.seq for s in batch.samples]
    assert len(seqs) == 5 and seqs == list(range(batch.first_seq, batch.last_seq + 1))
    assert batch.first_seq > 1  # the oldest were dropped, and the reader can see it
    temps = [
        p.value
        for p in batch.samples[-1].points
        if p.key.name == "node_hwmon_temp_celsius" and p.key.label("chip") == "nvme_nvme0"
    ]
    assert temps == [38850 * 0.001, 38850 * 0.001]

    status, body = http_get(_url(agent, f"/api/v1/samples?since={batch.last_seq}"))
    later = decode_batch(json.loads(body))
    assert all(s.seq > batch.last_seq for s in later.samples)

    assert http_get(_url(agent, "/api/v1/samples?since=abc"))[0] == 400
    assert http_get(_url(agent, "/nope"))[0] == 404

    status, body = http_get(_url(agent, "/healthz"))
    assert status == 200 and json.loads(body)["ok"] is True

    status, body = http_get(_url(agent, "/api/v1/snapshot"))
    snap = json.loads(body)
    assert status == 200 and snap["node"]["boot_id"] == agent.boot_id
    assert snap["disks"]["nvme0n1"]["read_iops"] == 0.0
    assert snap["headline"]["fan_rpm"] == 2934
    assert [
        "node_hwmon_fan_rpm",
        {"chip": "platform_cooling_fan", "sensor": "fan1"},
        "gauge",
        2934.0,
    ] in snap["metrics"]

    status, body = http_get(_url(agent, "/metrics"))
    text = body.decode()
    assert status == 200
    assert 'node_hwmon_fan_rpm{chip="platform_cooling_fan",sensor="fan1"} 2934' in text
    assert f'boot_id="{agent.boot_id}"' in text


def test_collections_are_an_interval_apart_from_the_first(tmp_path):
    cfg = AgentConfig(host="127.0.0.1", port=0, interval=1.0, node="pi4-a", buffer=5)
    a = Agent(cfg, LocalFS(str(TREES / "rpi4b")))
    a.start()
    try:
        _wait_seq(a, 3)
        status, body = http_get(_url(a, "/api/v1/samples?since=0"))
    finally:
        a.stop()
    assert status == 200
    ts = [s.ts for s in decode_batch(json.loads(body)).samples]
    # the loop waits a whole interval after the collection start() made (never less; a slow
    # machine may make it more), so no interval is a few milliseconds long
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(ts)), ts


def test_signed_beacon_on_loopback(tmp_path):
    key = b"test-key-123"
    port = free_port()
    rx = beacon.receiver_socket(beacon.DEFAULT_GROUP, port, "127.0.0.1")
    rx.settimeout(20)
    cfg = AgentConfig(
        host="127.0.0.1",
        port=0,
        interval=0.5,
        node="b1",
        board="pi5",
        beacon_key=key,
        beacon_port=port,
        beacon_every=0.3,
    )
    a = Agent(cfg, LocalFS(str(TREES / "rpi5-nvme")))
    a.start()
    try:
        got = []
        while len(got) < 2:
            data, _ = rx.recvfrom(65536)
            b = beacon.verify(data, key, now=time.time())
            if b.node == "b1":
                got.append(b)
        with pytest.raises(beacon.BeaconRejected) as rej:
            beacon.verify(data, b"other-key", now=time.time())
        assert rej.value.reason == "bad_signature"
    finally:
        a.stop()
        rx.close()
    b = got[-1]
    assert (b.address, b.port, b.boot_id, b.board) == ("127.0.0.1", a.address[1], a.boot_id, "pi5")
    assert b.seq >= 1
    assert b.headline["fan_rpm"] == 2934 and b.headline["temp_max_celsius"] == 61.45
    assert b.headline["throttled"] == 1  # the Pi 5 tree is frequency capped


def test_stop_wakes_the_sleeping_http_thread(tmp_path):
    """The http thread has no poll to notice a stop: stop() wakes it, and then it is gone."""
    cfg = AgentConfig(host="127.0.0.1", port=0, interval=3600, node="n", board=None, buffer=5)
    a = Agent(cfg, LocalFS(str(TREES / "rpi5-nvme")))
    a.start()
    status, _ = http_get(_url(a, "/metrics"))
    assert status == 200
    http = [t for t in a._threads if t.name == "http"]
    assert http and http[0].is_alive()
    a.stop()
    assert not http[0].is_alive()
    a.stop()  # a second stop is harmless


def _raw_get(a: Agent, version: str) -> tuple[dict[str, str], bytes]:
    """``GET /metrics`` over a bare socket: the answer's headers and its body as sent."""
    import socket

    host, port = a.address
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(f"GET /metrics {version}\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].split()[1] == "200", lines[0]
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return {k.lower(): v for k, v in headers.items()}, body


def _dechunk(body: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert body == b"\r\n"
            return out
        assert body[size : size + 2] == b"\r\n"
        out, body = out + body[:size], body[size + 2 :]


def test_a_large_collection_is_streamed_family_by_family_and_a_small_one_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from microrack.agent import _agent

    cfg = AgentConfig(host="127.0.0.1", port=0, interval=3600, node="n", board=None, buffer=5)
    a = Agent(cfg, LocalFS(str(TREES / "rpi5-nvme")))
    a.start()
    try:
        whole = bytes(a.metrics_text())
        series = len(a._latest.sample.points)  # type: ignore[union-attr]
        headers, body = _raw_get(a, "HTTP/1.1")
        assert headers["content-length"] == str(len(whole)) and body == whole

        monkeypatch.setattr(_agent, "STREAM_OVER", series - 1)
        a.collect_once()
        fresh = bytes(a.metrics_text())
        headers, body = _raw_get(a, "HTTP/1.1")
        assert headers.get("transfer-encoding") == "chunked" and "content-length" not in headers
        chunks = body.count(b"\r\n# HELP ")  # one chunk per family, each opening with its HELP
        assert chunks > 10
        assert _dechunk(body) == fresh
        assert a._text[1] == b""  # nothing kept rendered between scrapes
        headers, body = _raw_get(a, "HTTP/1.0")  # no chunked encoding for HTTP/1.0
        assert headers["content-length"] == str(len(fresh)) and body == fresh
    finally:
        a.stop()
