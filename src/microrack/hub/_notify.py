"""Alert notifications: Alertmanager's webhook format out, and Alertmanager's own API.

* ``--webhook URL``: each change (firing or resolved) is POSTed as the JSON
  body Alertmanager sends to its webhook receivers (``version: "4"``), so any
  receiver written for Alertmanager works unchanged.
* ``--alertmanager URL``: firing alerts are POSTed to ``URL/api/v2/alerts``
  and re-sent every ``resend`` seconds (Alertmanager forgets alerts that are not
  repeated); a resolved alert is sent once with its ``endsAt``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from microrack.hub._alerts import Alert

if TYPE_CHECKING:
    from microrack.hub._alerts import AlertEngine

__all__ = ["Notifier", "alertmanager_alert", "webhook_payload"]

log = logging.getLogger("microrack.hub.notify")


def _iso(ts: float | None) -> str:
    if ts is None:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def alertmanager_alert(alert: Alert, external_url: str = "") -> dict[str, Any]:
    labels = {
        "alertname": alert.rule,
        "node": alert.node,
        "severity": alert.severity,
        **alert.labels,
    }
    out: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": alert.summary, "value": f"{alert.value:g}"},
        "startsAt": _iso(alert.fired_at or alert.since),
        "generatorURL": f"{external_url}/#node={alert.node}",
    }
    if alert.state == "resolved":
        out["endsAt"] = _iso(alert.ended_at)
    return out


def webhook_payload(alerts: list[Alert], external_url: str = "") -> dict[str, Any]:
    """The body Alertmanager (webhook_config) POSTs, version 4."""
    items = []
    for a in alerts:
        item = alertmanager_alert(a, external_url)
        item["status"] = "resolved" if a.state == "resolved" else "firing"
        item.setdefault("endsAt", "0001-01-01T00:00:00Z")
        # a digest, not hash(): Python salts str hashes per process, and a receiver
        # must see the same fingerprint for the same alert after a hub restart
        item["fingerprint"] = hashlib.blake2b(a.fingerprint.encode(), digest_size=8).hexdigest()
        items.append(item)
    status = "firing" if any(a["status"] == "firing" for a in items) else "resolved"
    common = dict(items[0]["labels"]) if items else {}
    for it in items[1:]:
        common = {k: v for k, v in common.items() if it["labels"].get(k) == v}
    return {
        "version": "4",
        "groupKey": '{}:{alertname="microrack"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "microrack-hub",
        "groupLabels": {},
        "commonLabels": common,
        "commonAnnotations": {},
        "externalURL": external_url,
        "alerts": items,
    }


class Notifier:
    """Sends alert changes out; never blocks the hub (failures are logged and counted)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        webhooks: list[str],
        alertmanager: str | None,
        external_url: str = "",
        resend: float = 30.0,
    ) -> None:
        self._client = client
        self.webhooks = webhooks
        self.alertmanager = alertmanager.rstrip("/") if alertmanager else None
        self.external_url = external_url
        self.resend = resend
        self._queue: asyncio.Queue[Alert] = asyncio.Queue()
        self.sent = 0
        self.failures = 0

    def submit(self, alert: Alert) -> None:
        if self.webhooks or self.alertmanager:
            self._queue.put_nowait(alert)

    async def run(self, stop: asyncio.Event, engine: AlertEngine) -> None:
        loop = asyncio.get_running_loop()
        last_resend = loop.time()
        while not stop.is_set():
            batch: list[Alert] = []
            with contextlib.suppress(TimeoutError):
                batch.append(await asyncio.wait_for(self._queue.get(), timeout=1.0))
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            if batch:
                await self._send(batch)
            if self.alertmanager and loop.time() - last_resend >= self.resend:
                last_resend = loop.time()
                firing = engine.firing()
                if firing:
                    await self._post(
                        f"{self.alertmanager}/api/v2/alerts",
                        [alertmanager_alert(a, self.external_url) for a in firing],
                    )

    async def _send(self, alerts: list[Alert]) -> None:
        for url in self.webhooks:
            await self._post(url, webhook_payload(alerts, self.external_url))
        if self.alertmanager:
            await self._post(
                f"{self.alertmanager}/api/v2/alerts",
                [alertmanager_alert(a, self.external_url) for a in alerts],
            )

    async def _post(self, url: str, body: Any) -> None:
        try:
            resp = await self._client.post(url, json=body)
            resp.raise_for_status()
            self.sent += 1
        except httpx.HTTPError as exc:
            self.failures += 1
            log.warning("alert notification to %s failed: %s", url, exc)
