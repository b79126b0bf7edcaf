"""The live progress view of ``aftershock run`` on a terminal: SLO values against objectives,
fault countdowns, breakers, decisions and the verdict, rendered from the event stream."""

from __future__ import annotations

import io

from rich.console import Console

from chaos.commands.live import LiveView
from chaos.engine import events as ev
from chaos.slo.verdicts import Tick, Verdict


def test_renders_what_an_sre_watches() -> None:
    out = io.StringIO()
    now = 1_000.0
    view = LiveView(Console(file=out, width=110, force_terminal=False, color_system=None))
    with view:
        view(ev.RunStarted(run_id="r1", at=now, experiment="payment-latency", target="host"))
        view(ev.FaultInjected(run_id="r1", at=now, fault="payment-delay", description="proxy latency 500ms",
                              deadline=now + 40))
        view(ev.SloSampled(run_id="r1", at=now + 2, tick=Tick(now + 2, (
            Verdict("checkout-p95", "breached", 0.586, "< 0.3", "q", now + 2, consecutive=3),
            Verdict("monitor", "ok", 0.0, "", "", now + 2)))))
        view(ev.PolicyFired(run_id="r1", at=now + 2, decision_id="fast-rollback#1", policy="fast-rollback",
                            action="rollback", target="payment-delay"))
        view(ev.FaultRemoved(run_id="r1", at=now + 2, fault="payment-delay", reason="rollback"))
        view(ev.BreakerChanged(run_id="r1", at=now + 3, service="payment-gateway", state="open", weight=0))
        view(ev.RunFinished(run_id="r1", at=now + 8, verdict="deviated", exit_code=1, reason="recovered"))
    text = out.getvalue()
    assert "run r1 · payment-latency · host" in text
    assert "checkout-p95" in text and "0.586" in text and "< 0.3" in text and "breached" in text
    assert "monitor" not in text.split("checkout-p95")[1].split("fault")[0]  # the monitor row is not an SLO
    assert "payment-delay" in text and "removed (rollback)" in text
    assert "policy fast-rollback fired → rollback on payment-delay" in text
    assert "circuit payment-gateway: open (weight 0)" in text
    assert "verdict: deviated — recovered" in text
