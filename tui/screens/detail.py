"""Detail / launch screen of one experiment, and the launch confirmation.

Shows the compiled objects (``EngineAPI.plan()`` → ``PlannedFault.manifest``; Kubernetes
experiments fall back to a local ``compile_experiment`` when the engine cannot plan), the
resolved blast radius, SLOs with their current values, policies, and ``spec.parameters``
inputs (``--set``-like overrides). ``d`` dry-runs (plans, injects nothing); ``x`` asks for
confirmation with the blast radius, then posts :class:`tui.messages.LaunchRequested`.
Pushed by :class:`tui.screens.experiments.ExperimentsScreen`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Header, Input, Label, Static

from chaos.engine.api import Plan
from chaos.loading import Loaded
from tui.library import Entry, load_entry
from tui.messages import LaunchRequested
from tui.screens.base import AppModal, AppScreen
from tui.widgets.manifest_view import ManifestView
from tui.widgets.slo_chart import fmt

SLO_REFRESH_S = 5.0
"""How often the detail screen re-reads the SLOs' current values."""


def blast_radius_text(loaded: Loaded, plan: Plan | None) -> Text:
    """What a launch may touch: limits from the file, resolved targets from the plan."""
    exp = loaded.experiment
    radius = exp.spec.blast_radius
    text = Text()
    text.append("Blast radius\n", "bold underline")
    text.append(f"target: {plan.target if plan else exp.spec.target.type}\n")
    limits = []
    if radius.max_targets is not None:
        limits.append(f"maxTargets {radius.max_targets}")
    if radius.max_percent is not None:
        limits.append(f"maxPercent {radius.max_percent:g}%")
    if radius.namespaces:
        limits.append(f"namespaces {', '.join(radius.namespaces)}")
    if radius.allow_system_namespaces:
        limits.append("SYSTEM NAMESPACES ALLOWED")
    text.append(f"limits: {'; '.join(limits) or 'none declared'}\n")
    planned = {f.fault: f for f in plan.faults} if plan else {}
    for fault in exp.spec.faults:
        text.append(f"• {fault.name}", "bold")
        # a Chaos Toolkit action selects through its arguments (mode unused): say how it ends instead
        how = f"ends {getattr(fault, 'ends', '?')}" if fault.type == "chaostoolkit" else f"mode {fault.mode}"
        text.append(f" ({getattr(fault, 'type', '?')}, {fault.duration}, {how})\n")
        entry = planned.get(fault.name)
        if entry is not None:
            text.append(f"    {entry.description}\n", "dim")
            if entry.targets == (entry.description,):  # a kind realised by itself (a Chaos Toolkit action)
                pass  # its target is what the description says: not said twice
            elif entry.targets:
                text.append(f"    targets ({len(entry.targets)}): {', '.join(entry.targets)}\n")
            else:  # a Kubernetes plan compiles offline: the pods are listed by the launch's pre-flight
                text.append("    targets: resolved at launch by the pre-flight\n")
    if plan and plan.warnings:
        for warning in plan.warnings:
            text.append(f"⚠ {warning}\n", "bold yellow")
    return text


def launch_refusal(plan: Plan | None) -> str:
    """Why a launch cannot be confirmed ("" when it can): the engine could not plan it.

    A Kubernetes plan (``Engine.plan``) compiles offline and resolves no pods (``targets`` empty):
    the launch's pre-flight lists them and refuses a selector that matches none
    (``chaos.clients.kube.blast.check_blast_radius``), so an empty target list reads "resolved at
    launch", never "targets (0)", and does not block the confirmation."""
    if plan is None:
        return "the engine could not plan this run (see the detail screen): nothing to confirm"
    return ""


class ConfirmLaunch(AppModal):
    """Asks before anything is injected, showing the blast radius; refuses when nothing is targeted."""

    BINDINGS = [Binding("y", "confirm", "Launch"), Binding("n,escape", "cancel", "Cancel")]

    def __init__(self, loaded: Loaded, plan: Plan | None) -> None:
        super().__init__()
        self.loaded = loaded
        self.plan = plan

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(Text(f"Launch {self.loaded.experiment.name}?", "bold"), id="confirm-title")
            with VerticalScroll(id="confirm-body"):
                yield Static(blast_radius_text(self.loaded, self.plan))
            refusal = launch_refusal(self.plan)
            if refusal:
                yield Static(Text(f"Cannot launch: {refusal}", "bold red"), id="confirm-refusal")
            with Horizontal(id="confirm-buttons"):
                yield Button("Launch (y)", variant="error", id="yes", disabled=bool(refusal))
                yield Button("Cancel (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_confirm(self) -> None:
        refusal = launch_refusal(self.plan)
        if refusal:
            self.notify(f"cannot launch: {refusal}", severity="error")
            return
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_cancel(self) -> None:
        self.dismiss(False)


class DetailScreen(AppScreen):
    AUTO_FOCUS = "#detail-body"
    """Keys d/x work at once; the parameter inputs are a tab away."""
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("d", "dry_run", "Dry run"),
        Binding("x", "launch", "Launch…"),
        Binding("ctrl+o", "apply", "Apply overrides"),
    ]

    def __init__(self, entry: Entry) -> None:
        super().__init__()
        self.entry = entry
        self.loaded: Loaded | None = entry.loaded
        self.problems: list[str] = list(entry.problems)
        self.plan: Plan | None = None
        self.values_at: float | None = None
        """When the SLO values shown were read (None before the first plan)."""
        self.params: list[tuple[str, str]] = []
        if entry.loaded is not None:
            raw = entry.loaded.raw.get("spec", {}).get("parameters", {}) or {}
            self.params = [(str(k), _text(v)) for k, v in raw.items()]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail-body"):
            yield Static(id="summary")
            yield Static(id="problems")
            if self.params:
                yield Label(Text("Parameters (enter or ctrl+o applies)", "bold underline"))
                for index, (key, value) in enumerate(self.params):
                    with Horizontal(classes="param"):
                        yield Label(key, classes="param-key")
                        yield Input(value, id=f"param-{index}", classes="param-value")
            yield Static(id="blast")
            yield Static(id="slos")
            yield Static(id="policies")
            yield Static(id="plan-status")
            yield Vertical(id="manifests")
        with Horizontal(id="actions"):
            if self.params:
                yield Button("Apply overrides", id="apply")
            yield Button("Dry run (d)", id="dry-run")
            yield Button("Launch… (x)", variant="error", id="launch", disabled=self.loaded is None)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"Experiment · {self.entry.name}"
        self.redraw()
        if self.loaded is not None:
            self.make_plan()
        self.set_interval(SLO_REFRESH_S, self.refresh_values)

    @work(exclusive=True, group="values")
    async def refresh_values(self) -> None:
        """Keep the SLOs' current values current (a fresh plan; the manifests are left alone)."""
        loaded, plan = self.loaded, self.plan
        if loaded is None or plan is None or not self.is_current:
            return
        try:
            fresh = await self.tui.bridge.call(self.tui.engine.plan, loaded)
        except Exception:
            return  # the last values stay, with their time
        if self.loaded is loaded and self.plan is plan:
            self.plan = dataclasses.replace(plan, slo_values=fresh.slo_values)
            self.values_at = self.tui.clock()
            slos = self._slos()
            slos.rstrip()
            self.query_one("#slos", Static).update(slos)

    # ---------------------------------------------------------------- drawing

    def redraw(self) -> None:
        summary = self._summary()
        summary.rstrip()
        self.query_one("#summary", Static).update(summary)
        problems = self.query_one("#problems", Static)
        if self.problems:
            text = Text("invalid — nothing can be launched until this is fixed:\n", "bold red")
            for problem in self.problems:
                text.append(f"✗ {problem}\n", "red")
            text.rstrip()
            problems.update(text)
            problems.display = True
        else:
            problems.display = False
        self.query_one("#launch", Button).disabled = self.loaded is None
        if self.loaded is None:
            for widget_id in ("#blast", "#slos", "#policies"):
                self.query_one(widget_id, Static).update("")
            return
        for widget_id, text in (("#blast", blast_radius_text(self.loaded, self.plan)), ("#slos", self._slos()),
                                ("#policies", self._policies())):
            text.rstrip()
            self.query_one(widget_id, Static).update(text)

    def _summary(self) -> Text:
        text = Text()
        text.append(self.entry.name, "bold")
        text.append(f"  {self.entry.path}\n", "dim")
        if self.loaded is not None:
            exp = self.loaded.experiment
            if exp.metadata.description:
                text.append(exp.metadata.description + "\n")
            if exp.spec.schedule:
                text.append(f"schedule: {exp.spec.schedule.cron} ({exp.spec.schedule.timezone})\n")
        return text

    def _slos(self) -> Text:
        assert self.loaded is not None
        spec = self.loaded.experiment.spec
        values: dict[str, float | None] = self.plan.slo_values if self.plan else {}
        text = Text()
        when = time.strftime("%H:%M:%S UTC", time.gmtime(self.values_at)) if self.values_at else "…"
        text.append(f"SLOs (value at {when}, refreshed every {SLO_REFRESH_S:g} s)\n", "bold underline")
        for slo in spec.slos:
            value = values.get(slo.name)
            known = slo.name in values
            if value is None:
                state = Text("no data" if known else "…", "dim")
            else:
                holds = slo.objective.holds(value)
                state = Text("ok" if holds else "BREACHING", "green" if holds else "bold red")
            text.append(f"• {slo.name} ", "bold")
            text.append(f"{fmt(value)} {slo.objective}  ")
            text.append_text(state)
            extra = []
            if slo.for_s:
                extra.append(f"for {slo.for_}")
            if slo.consecutive > 1:
                extra.append(f"{slo.consecutive} consecutive")
            if slo.name in spec.steady_state:
                extra.append("steady state")
            if extra:
                text.append(f"  ({', '.join(extra)})", "dim")
            text.append("\n")
            if slo.probe is not None and slo.probe.kind == "chaostoolkit":
                # what runs each interval: a process provider's command (credentials scrubbed), on this host
                text.append(f"    {slo.probe.describe()}\n", "dim")
        return text

    def _policies(self) -> Text:
        assert self.loaded is not None
        text = Text()
        text.append("Policies (in order)\n", "bold underline")
        if not self.loaded.experiment.spec.policies:
            text.append("none — a breach is only reported\n", "dim")
        for policy in self.loaded.experiment.spec.policies:
            text.append(f"• {policy.name}: ", "bold")
            when = f"when {policy.when.slo}"
            if policy.when.consecutive:
                when += f" ×{policy.when.consecutive}"
            text.append(f"{when} → {policy.action}")
            with_ = policy.model_dump(mode="json", by_alias=True, exclude_defaults=True).get("with")
            if with_:
                text.append(f"  {_short(', '.join(_flat(with_)))}", "dim")
            if policy.escalate:
                text.append(f"  escalate after {policy.escalate.after} → {policy.escalate.to}", "yellow")
            text.append("\n")
        return text

    def _show_manifests(self) -> None:
        box = self.query_one("#manifests", Vertical)
        box.remove_children()
        if self.loaded is None:
            return
        views: list[ManifestView] = []
        if self.plan is not None and any(f.manifest for f in self.plan.faults):
            for fault in self.plan.faults:
                views.append(ManifestView(f"{fault.fault} — {fault.description}", fault.manifest))
        elif self.loaded.experiment.spec.target.type == "kubernetes":
            views.extend(_local_compile(self.loaded))
        box.mount_all(views)

    # ---------------------------------------------------------------- engine work

    @work(exclusive=True, group="plan")
    async def make_plan(self, dry_run: bool = False) -> None:
        loaded = self.loaded
        if loaded is None:
            return
        status = self.query_one("#plan-status", Static)
        status.update(Text("planning…", "dim"))
        try:
            plan = await self.tui.bridge.call(self.tui.engine.plan, loaded)
        except Exception as exc:  # the engine's own errors are shown, never raised into the UI
            self.plan = None
            status.update(Text(f"the engine could not plan: {exc}", "bold red"))
        else:
            self.plan = plan
            self.values_at = self.tui.clock()
            faults = len(plan.faults)
            if all(f.targets for f in plan.faults):
                onto = f"onto {sum(len(f.targets) for f in plan.faults)} target(s)"
            else:  # a Kubernetes plan resolves no pods (see launch_refusal)
                onto = "(targets resolved at launch)"
            message = f"{'Dry run' if dry_run else 'Plan'}: {faults} fault(s) {onto}; nothing injected."
            status.update(Text(message, "bold green" if dry_run else "dim"))
            if dry_run:
                self.notify(message, title="Dry run")
        self.redraw()
        self._show_manifests()

    @work(exclusive=True, group="overrides", thread=True)
    def reload_with(self, overrides: dict[str, str]) -> None:
        entry = load_entry(self.entry.path, overrides)
        self.app.call_from_thread(self._reloaded, entry, overrides)

    def _reloaded(self, entry: Entry, overrides: dict[str, str]) -> None:
        self.loaded = entry.loaded
        self.problems = list(entry.problems)
        self.plan = None
        shown = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "none"
        if entry.loaded is not None:
            self.notify(f"overrides applied: {shown}")
            self.make_plan()
        else:
            self.notify("overrides refused — see the problems", severity="error")
        self.redraw()
        self._show_manifests()

    def overrides(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for index, (key, original) in enumerate(self.params):
            value = self.query_one(f"#param-{index}", Input).value
            if value != original:
                out[key] = value
        return out

    # ---------------------------------------------------------------- actions

    @on(Input.Submitted, ".param-value")
    @on(Button.Pressed, "#apply")
    def action_apply(self) -> None:
        if self.params:
            self.reload_with(self.overrides())

    @on(Button.Pressed, "#dry-run")
    def action_dry_run(self) -> None:
        if self.loaded is None:
            self.notify("invalid experiment: nothing to dry-run", severity="error")
            return
        self.make_plan(dry_run=True)

    @on(Button.Pressed, "#launch")
    def action_launch(self) -> None:
        loaded = self.loaded
        if loaded is None:
            self.notify("invalid experiment: fix it before launching", severity="error")
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.app.post_message(LaunchRequested(loaded))

        self.app.push_screen(ConfirmLaunch(loaded, self.plan), answered)

    def action_back(self) -> None:
        self.app.pop_screen()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flat(value: Any, prefix: str = "") -> list[str]:
    """``{"http": {"url": "u"}, "service": "s"}`` → ``["http.url=u", "service=s"]`` (a policy's ``with``)."""
    if isinstance(value, dict):
        return [item for key, inner in value.items() for item in _flat(inner, f"{prefix}{key}.")]
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    return [f"{prefix.rstrip('.')}={value}"]


def _short(value: Any, limit: int = 70) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _local_compile(loaded: Loaded) -> list[ManifestView]:
    from chaos.compiling.kubernetes import compile_experiment, to_yaml_stream
    from chaos.errors import InvalidExperiment

    try:
        objects = compile_experiment(loaded.experiment, "preview", source=loaded.source)
    except InvalidExperiment as exc:
        return [ManifestView("does not compile", "\n".join(f"# {p.render()}" for p in exc.problems))]
    return [ManifestView(f"{o.fault} — {o.kind} (local compile)", to_yaml_stream([o])) for o in objects]
