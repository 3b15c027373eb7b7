import json
import time

import pytest

from microrack import beacon
from microrack.errors import ResourceError

KEY = b"s3cret"
PAYLOAD = {
    "node": "pi-1",
    "board": "rpi-4b",
    "address": "127.0.0.1",
    "port": 9101,
    "boot_id": "b1",
    "seq": 42,
    "ts": 1000.0,
    "headline": {"cpu": 0.25},
}


def test_sign_then_verify_round_trips():
    b = beacon.verify(beacon.sign(PAYLOAD, KEY), KEY, now=1001.0)
    assert (b.node, b.port, b.seq, b.headline) == ("pi-1", 9101, 42, {"cpu": 0.25})


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (json.dumps(PAYLOAD).encode(), "unsigned"),
        (beacon.sign(PAYLOAD, b"other-key"), "bad_signature"),
        (beacon.sign({**PAYLOAD, "ts": 900.0}, KEY), "stale"),
        (beacon.sign({"node": "x"}, KEY), "malformed"),
    ],
)
def test_rejects_with_reason(datagram, reason):
    with pytest.raises(beacon.BeaconRejected) as info:
        beacon.verify(datagram, KEY, now=1001.0)
    assert info.value.reason == reason


def test_tampered_payload_fails_signature():
    d = beacon.sign(PAYLOAD, KEY).replace(b'"seq":42', b'"seq":43')
    with pytest.raises(beacon.BeaconRejected, match="bad_signature"):
        beacon.verify(d, KEY, now=1001.0)


def test_load_key_errors_name_the_file(tmp_path):
    with pytest.raises(ResourceError, match=r"nope\.key"):
        beacon.load_key(tmp_path / "nope.key")
    (tmp_path / "empty.key").write_text("\n")
    with pytest.raises(ResourceError, match="empty"):
        beacon.load_key(tmp_path / "empty.key")


def test_multicast_on_loopback_reaches_receiver():
    port = 29797
    rx = beacon.receiver_socket(beacon.DEFAULT_GROUP, port, "127.0.0.1")
    rx.settimeout(5)
    tx = beacon.sender_socket("127.0.0.1")
    try:
        tx.sendto(beacon.sign({**PAYLOAD, "ts": time.time()}, KEY), (beacon.DEFAULT_GROUP, port))
        data, _ = rx.recvfrom(65535)
    except (TimeoutError, OSError) as exc:  # pragma: no cover - environment without multicast
        pytest.fail(f"multicast on loopback failed: {exc}")
    finally:
        rx.close()
        tx.close()
    assert beacon.verify(data, KEY, now=time.time()).node == "pi-1"
