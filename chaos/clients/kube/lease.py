"""Leader election on a ``coordination.k8s.io/v1`` Lease, so that several ``gameday serve``
replicas (a Deployment) never fire the same due time: only the holder of the Lease runs the
scheduler. Kubernetes is the coordinator; the algorithm is client-go's ``leaderelection``:

* a candidate takes the Lease when nobody holds it, when its holder released it (empty
  ``holderIdentity``), or when the record has not changed for ``leaseDurationSeconds`` *as this
  candidate observed it* (its own monotonic clock since it last saw the record change — no trust in
  the other node's wall clock);
* every write is a ``replace`` carrying the ``resourceVersion`` that was read (or a ``create`` of a
  missing Lease): of two candidates racing, the API server accepts one and answers 409 to the
  other, who stays a follower;
* the leader renews every ``retry_s``; when it has not managed to renew for ``renew_s`` (less than
  the lease duration) it gives up leadership *before* anybody else may take the Lease;
* a leader that stops cleanly releases the Lease (empty holder, 1 s duration) so a follower takes
  over at once.

Blocking client calls run in a worker thread (``asyncio.to_thread``). Used by ``gameday serve
--leader-elect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("aftershock.lease")

LABELS = {"app.kubernetes.io/managed-by": "aftershock", "app.kubernetes.io/component": "gameday-serve"}


@dataclass
class LeaseElector:
    api: client.ApiClient
    namespace: str
    name: str
    identity: str
    lease_s: int = 15
    renew_s: float = 10.0
    retry_s: float = 2.0
    monotonic: Callable[[], float] = time.monotonic
    _observed: tuple[Any, ...] | None = field(default=None, init=False)
    _observed_at: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.retry_s < self.renew_s < self.lease_s:
            raise ValueError("leader election needs 0 < retry < renew deadline < lease duration")

    @property
    def _api(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.api)

    def _spec(self, now: datetime, acquire: datetime, transitions: int) -> client.V1LeaseSpec:
        return client.V1LeaseSpec(holder_identity=self.identity, lease_duration_seconds=self.lease_s,
                                  acquire_time=acquire, renew_time=now, lease_transitions=transitions)

    def try_acquire_or_renew(self) -> bool:
        """One attempt (blocking): True when this candidate holds the Lease afterwards."""
        now = datetime.now(UTC)
        try:
            lease = self._api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1Lease(metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace,
                                                               labels=LABELS),
                                  spec=self._spec(now, now, 0))
            try:
                self._api.create_namespaced_lease(self.namespace, body)
            except ApiException as exc2:
                if exc2.status == 409:  # another candidate created it first
                    return False
                raise
            log.info("lease %s/%s: created, %s leads", self.namespace, self.name, self.identity)
            return True
        spec = lease.spec or client.V1LeaseSpec()
        record = (spec.holder_identity, spec.renew_time, spec.acquire_time, spec.lease_transitions)
        mono = self.monotonic()
        if record != self._observed:
            self._observed, self._observed_at = record, mono
        holder = spec.holder_identity or ""
        if holder and holder != self.identity:
            duration = spec.lease_duration_seconds or self.lease_s
            if mono - self._observed_at < duration:
                return False  # held, and alive as far as this candidate has seen
        transitions = (spec.lease_transitions or 0) + (0 if holder == self.identity else 1)
        acquire = spec.acquire_time if holder == self.identity and spec.acquire_time else now
        lease.spec = self._spec(now, acquire, transitions)
        try:
            self._api.replace_namespaced_lease(self.name, self.namespace, lease)  # carries resourceVersion
        except ApiException as exc:
            if exc.status == 409:  # somebody wrote it since we read it
                return False
            raise
        if holder != self.identity:
            log.info("lease %s/%s: %s took over from %s", self.namespace, self.name, self.identity,
                     holder or "nobody")
        return True

    async def _attempt(self) -> bool:
        try:
            return await asyncio.to_thread(self.try_acquire_or_renew)
        except (ApiException, OSError) as exc:
            log.warning("lease %s/%s: %s", self.namespace, self.name, getattr(exc, "reason", exc))
            return False

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this candidate leads (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            if await self._attempt():
                return True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.retry_s):
                    await stop.wait()
        return False

    async def hold(self, stop: asyncio.Event) -> bool:
        """Renew until ``stop`` (returns True) or until no renewal succeeded for ``renew_s``
        (leadership lost: returns False; the caller must stop acting as leader)."""
        last_ok = self.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.retry_s):
                    await stop.wait()
            if stop.is_set():
                return True
            if await self._attempt():
                last_ok = self.monotonic()
            elif self.monotonic() - last_ok > self.renew_s:
                log.error("lease %s/%s: not renewed for %.0f s: %s stops leading", self.namespace, self.name,
                          self.renew_s, self.identity)
                return False

    def release(self) -> bool:
        """Give the Lease up if this candidate holds it (blocking); True when released."""
        try:
            lease = self._api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec is None or lease.spec.holder_identity != self.identity:
                return False
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = datetime.now(UTC)
            self._api.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as exc:
            log.warning("lease %s/%s: release failed: %s", self.namespace, self.name, exc.reason)
            return False
        log.info("lease %s/%s: released by %s", self.namespace, self.name, self.identity)
        return True
