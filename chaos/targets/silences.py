"""Alertmanager silences of a run (``alerting.silence``): recorded write-ahead like a fault, created
before the first injection, expired when the run ends — or by ``aftershock recover`` after a crash.

The record is a fault row of the run (``fault = "alert-silence"``, realisation kind
:data:`KIND`) in the state store, written *before* the silence is created; it holds the
Alertmanager URL, the matchers, the end time and the header recipes (never their values). Removal
works from the record alone: it expires every silence of the run (found by its ``aftershock:<run>``
comment), so a crash between the create call and the record's update loses nothing. A record read
back is data: its header recipes are read only for the configured Alertmanager URL or a listener of
ours on this host (:func:`chaos.clients.record_trust.check_credential_url`). A silence is
also bounded by Alertmanager itself: it ends at ``endsAt`` (the longest fault plus the recovery
timeout and a margin) whatever happens to Aftershock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chaos.model.experiment import Experiment
from chaos.secrets import to_record
from chaos.targets.lifecycle import AlreadyGone, Removal, Removed

if TYPE_CHECKING:  # the client (httpx) is imported when a silence is created or expired, not with the engine
    from chaos.clients.alertmanager import AlertmanagerClient

KIND = "alertmanager-silence"
FAULT_NAME = "alert-silence"
FAULT_TYPE = "silence"
MARGIN_S = 60.0


def silence_window(experiment: Experiment, starts: float) -> float:
    """When the silence ends at the latest: every fault's window, the recovery wait and a margin."""
    spec = experiment.spec
    return starts + spec.fault_window_s + spec.recovery.timeout_s + MARGIN_S


def planned(experiment: Experiment, run_id: str, starts: float) -> dict[str, Any]:
    from chaos.clients.alertmanager import silence_comment

    alerting = experiment.spec.alerting
    assert alerting is not None
    return {"v": 1, "kind": KIND, "url": alerting.alertmanager, "run_id": run_id,
            "matchers": alerting.matchers(), "starts": starts, "ends": silence_window(experiment, starts),
            "comment": silence_comment(run_id, experiment.name), "headers": to_record(dict(alerting.headers)),
            "description": f"silence of {', '.join(alerting.silence)} at {alerting.alertmanager}"}


def _client(realisation: Mapping[str, Any], environ: Mapping[str, str] | None) -> AlertmanagerClient:
    from chaos.clients.alertmanager import AlertmanagerClient
    from chaos.loading.recipes import from_record

    headers = from_record(dict(realisation.get("headers") or {}), dict(environ or {}))
    return AlertmanagerClient(str(realisation["url"]), headers=headers)


async def create(realisation: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Create the recorded silence → the realisation with its ``silence_id``."""
    async with _client(realisation, environ) as am:
        silence_id = await am.create_silence(realisation["matchers"], float(realisation["starts"]),
                                             float(realisation["ends"]), str(realisation["comment"]))
    return {**realisation, "silence_id": silence_id}


async def expire(realisation: Mapping[str, Any], environ: Mapping[str, str] | None = None, *,
                 trusted: bool = False) -> Removal:
    """Expire every silence of the recorded run (idempotent) → what was done. ``trusted``: the
    realisation is the run's own (in memory, from its experiment), not one read back from the store;
    a read-back record with header recipes has them read only for a URL the user configured
    (``AFTERSHOCK_ALERTMANAGER_URL``) or a listener of ours on this host (a forged record must not
    send the Alertmanager credentials anywhere it likes)."""
    if environ is None:  # `recover`: the invoking user's environment
        import os

        environ = os.environ
    if not trusted and realisation.get("headers"):
        from chaos.clients.record_trust import check_credential_url

        check_credential_url(str(realisation.get("url")), environ, "the headers of an Alertmanager silence")
    async with _client(realisation, environ) as am:
        expired = await am.expire_run_silences(str(realisation["run_id"]))
    url = realisation.get("url")
    if not expired:
        return AlreadyGone(f"silence of run {realisation['run_id']} at {url}: already expired")
    return Removed(f"expired silence {', '.join(expired)} at {url}")
