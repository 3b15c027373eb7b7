"""The stand-in agent answers in exactly the agent's wire format (microrack.sample)."""

from __future__ import annotations

import json
import time

from microrack.hub._standin import StandIn
from microrack.sample import NodeIdentity, decode_batch, encode_batch


def test_fast_path_is_the_same_json_as_encode_batch() -> None:
    a = StandIn("x", 1, interval=5, series=30, ring=720, start=time.time() - 7200)
    body = json.loads(a.samples_body(0))
    assert len(body["samples"]) == 720 and body["last_seq"] - body["first_seq"] == 719
    ident = NodeIdentity(a.name, a.board, a.host, a.port, a.boot_id, a.interval)
    seqs = range(body["first_seq"], body["last_seq"] + 1)
    ref = encode_batch(ident, body["first_seq"], body["last_seq"], (a.sample(s) for s in seqs))
    assert json.loads(json.dumps(ref)) == body
    batch = decode_batch(body)
    assert len(batch.samples[0].points) == 30


def test_small_answers_and_ring_limit() -> None:
    a = StandIn("y", 1, interval=1, series=8, ring=10, start=time.time() - 100)
    body = json.loads(a.samples_body(0))
    assert body["first_seq"] == body["last_seq"] - 9 and len(body["samples"]) == 10
    last = body["last_seq"]
    assert json.loads(a.samples_body(last))["samples"] == []
