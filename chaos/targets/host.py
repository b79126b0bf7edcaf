"""The host target: faults through the fault proxy (latency, loss, partition, throttle, HTTP
abort/delay) or the kernel (iptables statistic DROP, tc tbf), each bounded by the thing that
injects it (the proxy's own deadline timer; a detached watchdog for kernel rules).

:class:`HostRunTarget` is the :class:`~chaos.targets.base.RunTarget` of a host run (the driver
builds one per run); ``remove_realisation`` works from the state store's record alone, so
``aftershock recover`` can remove what a crashed run left without the experiment file (through
:mod:`chaos.targets.recovery`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import secrets
import signal
import sys
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, assert_never

from chaos import registry
from chaos.clients.host.admin_client import ProxyAdminClient
from chaos.clients.host.commands import Runner
from chaos.clients.host.specs import ProxyFault
from chaos.clients.record_trust import AdminChecks
from chaos.compiling.host import HostFaultPlan, plan_host, shrink_proxy_fault
from chaos.errors import (
    ChaosError,
    PreflightRefused,
    RecordRefused,
    StateError,
    TargetError,
    TargetUnreachable,
)
from chaos.model.kinds import CustomRealiser, HostIO
from chaos.policy.actions import WeightTarget
from chaos.policy.actuators import Actuators
from chaos.secrets import remember
from chaos.targets.base import Realisation, TargetContext, UndoContext
from chaos.targets.lifecycle import AlreadyGone, Removal, Removed
from chaos.targets.realisations import (
    CustomRealisation,
    KernelRealisation,
    KubeRealisation,
    ProxyRealisation,
    planned_host_realisation,
    realisation_from_record,
    realisation_to_record,
)

if TYPE_CHECKING:  # the host's capabilities are probed for kernel faults only
    from chaos.clients.host.capabilities import CapabilityReport

ADMIN_TIMEOUT = 5.0
T = TypeVar("T")


def proxy_token(proxy: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The admin token of a proxy selector (``tokenEnv`` or ``tokenFile``); never logged."""
    if proxy.get("token"):
        return str(proxy["token"])
    env_name = proxy.get("token_env")
    if env_name:
        value = environ.get(str(env_name), "")
        if value:
            remember(value)  # a secret: scrubbed from any text that reaches a user
            return value
    file_name = proxy.get("token_file")
    if file_name:
        try:
            token = Path(str(file_name)).read_text().strip()
        except OSError as exc:
            raise TargetError(f"cannot read the proxy token file {file_name}: {exc.strerror}") from exc
        remember(token)
        return token
    if env_name and str(env_name).startswith("AFTERSHOCK_DEMO_"):
        raise PreflightRefused(f"this is a demo experiment: it needs the demo's fault proxy and services, which "
                               f"`aftershock demo` starts (it sets {env_name}); run `aftershock demo` "
                               "(--scenario latency|degrade|circuit-break)")
    where = f"environment variable {env_name}" if env_name else "selector.proxy.tokenEnv/tokenFile"
    raise PreflightRefused(f"no admin token for the fault proxy at {proxy.get('admin')}: set {where}")


class HostTarget:
    """Realises host fault plans. One per run (holds the run's spawned proxies)."""

    def __init__(self, state_dir: Path, environ: Mapping[str, str] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.pid_dir = self.state_dir / "watchdogs"
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.environ = os.environ if environ is None else environ
        self._spawned: list[asyncio.subprocess.Process] = []
        self._token_files: list[Path] = []
        self.trusted: dict[str, dict[str, Any]] = {}
        """Admin URL → the proxy selector this run took from its experiment or spawned itself: a record
        naming one of these (with the same token source) is ours; any other is checked (record_token)."""

    # ---------------------------------------------------------------- pre-flight

    async def preflight(self, plans: list[HostFaultPlan]) -> tuple[list[str], list[str]]:
        """Checks passed and concrete targets; raises a ChaosError naming what is missing."""
        checks: list[str] = []
        targets: list[str] = []
        report: CapabilityReport | None = None
        for plan in plans:
            if plan.via == "proxy":
                proxy = plan.proxy
                targets.append(f"proxy {proxy['listen']} → {proxy['upstream']}")
                if proxy.get("admin"):
                    self.trusted[str(proxy["admin"])] = dict(proxy)
                    token = proxy_token(proxy, self.environ)
                    async with ProxyAdminClient(str(proxy["admin"]), token, timeout=ADMIN_TIMEOUT) as admin:
                        weights = await admin.weights()
                    upstream = str(proxy["upstream"])
                    if ":" not in upstream and upstream not in weights:
                        raise PreflightRefused(
                            f"fault {plan.fault}: the proxy at {proxy['admin']} has no upstream {upstream!r}",
                            [f"its upstreams: {', '.join(weights) or 'none'}"])
                    checks.append(f"fault proxy at {proxy['admin']} reachable (upstreams: {', '.join(weights)})")
                else:
                    checks.append(f"a run-owned fault proxy will listen on {proxy['listen']}")
            elif plan.via == "custom":
                origin = registry.faults.origin(plan.fault_type)
                targets.append(plan.description)
                checks.append(f"{plan.fault_type} realises {plan.fault} itself"
                              + (f" ({origin.distribution})" if origin is not None else ""))
                realiser, _ = self._custom(plan.fault_type, plan.comment, 0.0)
                own = getattr(realiser, "preflight", None)  # optional: a kind's own checks (drivers, programs)
                if own is not None:
                    checks += await own(plan.custom)
            else:
                from chaos.clients.host import capabilities  # kernel faults only (the proxy needs none)

                report = report or await asyncio.to_thread(capabilities.probe)
                await asyncio.to_thread(capabilities.require, plan.fault_type, report)
                k = plan.kernel
                targets.append(plan.description)
                checks.append(f"{plan.via} available for {plan.fault_type}" +
                              (f" in netns {k['netns']}" if k.get("netns") else ""))
        return checks, targets

    # ---------------------------------------------------------------- inject / remove

    async def inject(self, plan: HostFaultPlan, deadline: float) -> dict[str, Any]:
        """Inject one planned fault with its absolute deadline; returns its realisation's record (for the store)."""
        planned = planned_host_realisation(plan)
        match planned:
            case ProxyRealisation():
                assert plan.proxy_fault is not None
                fault = plan.proxy_fault.replace(deadline=deadline)
                proxy = dict(plan.proxy)
                if not proxy.get("admin"):
                    proxy.update(await self._spawn_proxy(proxy))
                    fault = fault.replace(upstream="")
                self.trusted[str(proxy["admin"])] = proxy
                injected = dataclasses.replace(planned, proxy=proxy, proxy_fault=fault.to_dict())
                record = realisation_to_record(injected)  # checked before the fault exists anywhere
                token = proxy.get("token") or proxy_token(proxy, self.environ)
                async with ProxyAdminClient(str(proxy["admin"]), str(token), timeout=ADMIN_TIMEOUT) as admin:
                    await admin.add_fault(fault)
                return record
            case CustomRealisation():
                realiser, io = self._custom(plan.fault_type, plan.comment, deadline)
                extra = await _plugin_call(plan.fault_type, "inject", realiser.inject(plan.custom, io))
                return realisation_to_record(dataclasses.replace(planned, params={**plan.custom, **extra}))
            case KernelRealisation():
                return realisation_to_record(await self._inject_kernel(plan, planned, deadline))
        raise TargetError(f"unknown host realisation {plan.via!r}")

    async def _inject_kernel(self, plan: HostFaultPlan, planned: KernelRealisation,
                             deadline: float) -> KernelRealisation:
        # kernel faults only: their modules are not on a proxy run's way to injection
        from chaos.clients.host.iptables import IptablesFaults
        from chaos.clients.host.tc import TcFaults

        k = plan.kernel
        run_id, fault_name = plan.comment.split(":")[1:3]
        runner = Runner(netns=k.get("netns"))
        if planned.kind == "iptables":
            ipt = IptablesFaults(self.pid_dir, runner)
            if float(k.get("percent", 100)) >= 100:
                rule = await asyncio.to_thread(ipt.add_partition, run_id, fault_name, deadline, port=k.get("port"),
                                               address=k.get("address"), protocol=k.get("protocol", "tcp"))
            else:
                rule = await asyncio.to_thread(ipt.add_loss, run_id, fault_name, float(k["percent"]), deadline,
                                               port=k.get("port"), address=k.get("address"),
                                               protocol=k.get("protocol", "tcp"))
            return dataclasses.replace(planned, rule={"chain": rule.chain, "spec": list(rule.spec),
                                                      "comment": rule.comment})
        tcf = TcFaults(self.pid_dir, runner)
        await asyncio.to_thread(tcf.add_bandwidth, run_id, fault_name, str(k["interface"]),
                                int(k["rate_bytes_per_s"]), deadline)
        return planned

    async def remove(self, realisation: Mapping[str, Any]) -> Removal:
        return await remove_realisation(realisation, self.state_dir, self.environ, trusted=self.trusted)

    async def present(self, realisation: Mapping[str, Any]) -> bool | None:
        """Whether the injector still has this fault (None: cannot tell), to notice one removed under us."""
        try:
            return await present_realisation(realisation, self.state_dir, self.environ, trusted=self.trusted)
        except ChaosError:
            return None

    def _custom(self, fault_type: str, comment: str, deadline: float) -> tuple[CustomRealiser, HostIO]:
        return _custom_realiser(fault_type, comment, deadline, self.state_dir, self.environ)

    async def shrink(self, realisation: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        typed = realisation_from_record(realisation)
        if not isinstance(typed, ProxyRealisation):
            raise TargetError("only proxy faults can be shrunk on the host (kernel rules are removed instead)")
        proxy = typed.proxy
        fault = ProxyFault.from_dict(dict(typed.proxy_fault))
        smaller = shrink_proxy_fault(fault, percent=_opt_float(params.get("percent")),
                                     latency=_opt_str(params.get("latency")), jitter=_opt_str(params.get("jitter")))
        token = record_token(proxy, self.environ, self.trusted)
        async with ProxyAdminClient(str(proxy["admin"]), str(token), timeout=ADMIN_TIMEOUT) as admin:
            await admin.update_fault(smaller)
        return realisation_to_record(dataclasses.replace(typed, proxy_fault=smaller.to_dict()))

    async def set_weight(self, admin_url: str, token: str, service: str, weight: int, owner: str = "") -> int:
        async with ProxyAdminClient(admin_url, token, timeout=ADMIN_TIMEOUT) as admin:
            return await admin.set_weight(service, weight, owner)

    async def release_weight(self, admin_url: str, token: str, service: str, owner: str) -> int | None:
        async with ProxyAdminClient(admin_url, token, timeout=ADMIN_TIMEOUT) as admin:
            return await admin.release_weight(service, owner)

    async def close(self) -> None:
        for proc in self._spawned:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                try:
                    async with asyncio.timeout(5):
                        await proc.wait()
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        self._spawned.clear()
        for token_file in self._token_files:
            with contextlib.suppress(OSError):
                token_file.unlink()
        self._token_files.clear()

    async def _spawn_proxy(self, proxy: Mapping[str, Any]) -> dict[str, Any]:
        """Start a run-owned proxy ``listen → upstream`` (its admin on a free loopback port)."""
        token = secrets.token_urlsafe(24)
        token_file = self.state_dir / f"proxy-{secrets.token_hex(4)}.token"
        token_file.touch(mode=0o600)
        token_file.write_text(token)
        self._token_files.append(token_file)
        argv = [sys.executable, "-m", "chaos.clients.host.proxy", "--listen", str(proxy["listen"]),
                "--upstream", f"target={proxy['upstream']}", "--admin", "127.0.0.1:0",
                "--token-file", str(token_file), "--owner-pid", str(os.getpid())]
        if proxy.get("http"):
            argv.append("--http")
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
        assert proc.stdout is not None
        self._spawned.append(proc)  # close() stops it, whatever happens next
        try:
            async with asyncio.timeout(15):
                line = await proc.stdout.readline()
            ready = json.loads(line or b"{}")
        except (TimeoutError, ValueError) as exc:
            raise TargetError(f"the fault proxy for {proxy['listen']} did not start") from exc
        if not ready.get("ready"):
            raise TargetError(f"the fault proxy for {proxy['listen']} did not start: {ready.get('error')}")
        return {"admin": f"http://{ready['admin']}", "token_file": str(token_file), "token_env": None,
                "pid": proc.pid}


def _custom_realiser(fault_type: str, comment: str, deadline: float, state_dir: Path,
                     environ: Mapping[str, str]) -> tuple[CustomRealiser, HostIO]:
    """The realiser of a kind that does its own I/O, and what it is given (run and fault from the comment)."""
    kind = registry.faults.get(fault_type)
    if kind is None or kind.host is None or kind.host.custom is None:
        raise StateError(f"a {fault_type} fault was recorded but no installed fault kind {fault_type!r} realises "
                         "it on the host: reinstall the package that provides it, then `aftershock recover`")
    _, run_id, fault = [*comment.split(":"), "", ""][:3]
    return kind.host.custom, HostIO(run_id=run_id, fault=fault, deadline=deadline, state_dir=Path(state_dir),
                                    environ=environ)


async def _plugin_call(fault_type: str, what: str, call: Awaitable[T]) -> T:
    """Await a custom realiser's ``what``; its own failure becomes a TargetError naming the kind."""
    try:
        return await call
    except ChaosError:
        raise
    except Exception as exc:  # a plugin's bug: reported, and the engine's removal path still runs
        raise TargetError(f"{fault_type} {what} failed: {type(exc).__name__}: {exc}") from exc


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


_TOKEN_FILE = re.compile(r"proxy-[0-9a-f]{8}\.token")


def _own_token_file(token_file: str, state_dir: Path) -> Path | None:
    """``token_file`` if it is one a run of ``state_dir`` wrote for a proxy it spawned (``proxy-<hex>.token``
    directly in the state dir, not a symlink), else None: a record never chooses which file is unlinked."""
    if not token_file:
        return None
    path = Path(token_file)
    try:
        if (_TOKEN_FILE.fullmatch(path.name) is None or path.is_symlink()
                or path.parent.resolve() != Path(state_dir).resolve()):
            return None
    except OSError:
        return None
    return path


def _stop_spawned_proxy(pid: int, token_file: str, state_dir: Path) -> None:
    """SIGTERM a run-owned proxy — only if ``pid`` still is that proxy (its command line names the
    proxy module and its own token file, one of this state dir's; a recycled pid is left alone) — and
    delete its token file."""
    own = _own_token_file(token_file, state_dir)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        cmdline = []
    args = [a.decode(errors="replace") for a in cmdline]
    if "chaos.clients.host.proxy" in args and (not token_file or (own is not None and token_file in args)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    if own is not None:
        with contextlib.suppress(OSError):
            own.unlink()


def record_token(proxy: Mapping[str, Any], environ: Mapping[str, str],
                 trusted: Mapping[str, Mapping[str, Any]] | None = None, checks: AdminChecks | None = None) -> str:
    """The admin token for a proxy selector read back from a record. The record does not choose where
    the token goes: a selector this run took from its experiment (``trusted``, same admin and token
    source) is used as it is; any other only if its admin endpoint is a listener of ours on this host
    (:func:`chaos.clients.record_trust.check_admin`, through ``checks`` once per URL in a pass over
    many records; nothing listening is :class:`TargetUnreachable`)."""
    admin = proxy.get("admin")
    if not admin:
        raise TargetUnreachable(f"fault proxy admin at {admin} unreachable (the proxy never started)")
    known = (trusted or {}).get(str(admin))
    same = known is not None and all(known.get(k) == proxy.get(k) for k in ("token_env", "token_file"))
    if not same:
        (checks or AdminChecks()).check(str(admin))
    return str(proxy.get("token") or proxy_token(proxy, environ))


async def present_realisation(realisation: Mapping[str, Any], state_dir: Path, environ: Mapping[str, str],
                              trusted: Mapping[str, Mapping[str, Any]] | None = None) -> bool | None:
    """Whether the injector still has a recorded host fault (None: cannot tell for its kind);
    raises the ChaosError that kept it from asking."""
    match realisation_from_record(realisation):
        case KernelRealisation(kind="iptables", comment=comment, kernel=kernel):
            from chaos.clients.host.iptables import IptablesFaults

            runner = Runner(netns=kernel.get("netns"))
            rules = await asyncio.to_thread(IptablesFaults(Path(state_dir) / "watchdogs", runner).list_rules)
            return any(r.comment == comment for r in rules)
        case ProxyRealisation(proxy=proxy, fault_id=fault_id):
            token = record_token(proxy, environ, trusted)
            async with ProxyAdminClient(str(proxy["admin"]), token, timeout=ADMIN_TIMEOUT) as admin:
                ids = {f.id for f in await admin.list_faults()}
            return fault_id in ids
        case CustomRealisation(fault_type=fault_type, comment=comment, params=params):
            realiser, io = _custom_realiser(fault_type, comment, 0.0, Path(state_dir), environ)
            present: bool | None = await _plugin_call(fault_type, "present", realiser.present(params, io))
            return present
        case _:
            return None


async def remove_realisation(realisation: Mapping[str, Any], state_dir: Path,
                             environ: Mapping[str, str] | None = None,
                             trusted: Mapping[str, Mapping[str, Any]] | None = None,
                             checks: AdminChecks | None = None) -> Removal:
    """Remove one recorded host fault. Idempotent: a fault already gone is :class:`AlreadyGone`.
    ``checks``: the admin endpoints already found ours in this pass (``recover``)."""
    environ = os.environ if environ is None else environ
    pid_dir = Path(state_dir) / "watchdogs"
    match realisation_from_record(realisation):
        case ProxyRealisation(proxy=proxy, fault_id=fault_id):
            result: Removal
            try:
                token = record_token(proxy, environ, trusted, checks)
                async with ProxyAdminClient(str(proxy["admin"]), token, timeout=ADMIN_TIMEOUT) as admin:
                    removed = await admin.remove_fault(fault_id)
                result = (Removed(f"proxy fault {fault_id} removed") if removed
                          else AlreadyGone(f"proxy fault {fault_id} already gone"))
            except TargetUnreachable:
                result = AlreadyGone(f"proxy at {proxy.get('admin')} is gone, and its faults with it")
            if proxy.get("pid"):
                try:
                    pid = int(proxy["pid"])
                except (TypeError, ValueError) as exc:
                    raise RecordRefused(f"the record names no valid proxy pid ({proxy['pid']!r})") from exc
                _stop_spawned_proxy(pid, str(proxy.get("token_file") or ""), Path(state_dir))
            return result
        case KernelRealisation(kind=kind, comment=comment, kernel=kernel):
            from chaos.clients.host.iptables import IptablesFaults
            from chaos.clients.host.tc import TcFaults

            runner = Runner(netns=kernel.get("netns"))
            parts = comment.split(":")
            if kind == "iptables":
                gone = await asyncio.to_thread(IptablesFaults(pid_dir, runner).remove_fault, parts[1], parts[2])
                return (Removed(f"iptables rule {comment} removed") if gone
                        else AlreadyGone(f"iptables rule {comment} already gone"))
            qdisc_gone = await asyncio.to_thread(TcFaults(pid_dir, runner).remove, str(kernel.get("interface")),
                                                 parts[1], parts[2])  # only the qdisc the record's run owns
            return (Removed(f"tc qdisc on {kernel.get('interface')} removed") if qdisc_gone
                    else AlreadyGone("tc qdisc already gone"))
        case CustomRealisation(fault_type=fault_type, comment=comment, params=params):
            realiser, io = _custom_realiser(fault_type, comment, 0.0, Path(state_dir), environ)
            was_there = await _plugin_call(fault_type, "remove", realiser.remove(params, io))
            return (Removed(f"{fault_type} {io.fault} removed") if was_there
                    else AlreadyGone(f"{fault_type} {io.fault} already gone"))
        case KubeRealisation():
            raise TargetError("a Kubernetes fault is not removed by the host target")
        case other:
            assert_never(other)


class HostRunTarget:
    """The host target of one run: its fault plans, the realiser, and the shrink and weight
    actuators (through the fault proxy's admin endpoint)."""

    recover_kinds = ("proxy", "iptables", "tc", "custom")

    def __init__(self, ctx: TargetContext) -> None:
        self.ctx = ctx
        self.plans = {p.fault: p for p in plan_host(ctx.loaded.experiment, ctx.run_id, source=ctx.loaded.source)}
        self.host = HostTarget(ctx.state_dir, ctx.environ)

    async def preflight(self) -> tuple[list[str], list[str]]:
        return await self.host.preflight(list(self.plans.values()))

    def planned_realisation(self, fault: str, deadline: float) -> Realisation:
        plan = self.plans[fault]
        pf = plan.proxy_fault.replace(deadline=deadline) if plan.proxy_fault else None
        return realisation_to_record(planned_host_realisation(dataclasses.replace(plan, proxy_fault=pf)))

    async def inject(self, fault: str, deadline: float) -> Realisation:
        return await self.host.inject(self.plans[fault], deadline)

    async def remove(self, realisation: Mapping[str, Any]) -> Removal:
        return await self.host.remove(realisation)

    async def present(self, realisation: Mapping[str, Any]) -> bool | None:
        return await self.host.present(realisation)

    def actuators(self, http: Sequence[object]) -> Actuators:
        return Actuators.of(self, *http)

    def undo_context(self) -> UndoContext:
        return UndoContext(default_proxy=self._admin_proxy())

    async def close(self) -> None:
        await self.host.close()

    # ---------------------------------------------------------------- actuators (FaultShrinker, WeightSetter)

    async def shrink_fault(self, action_id: str, fault: str, params: Mapping[str, str | float]) -> None:
        row = self.ctx.store.fault(self.ctx.run_id, fault)
        if row is None or not row.live:
            raise PreflightRefused(f"fault {fault} is not live")
        updated = await self.host.shrink(row.realisation, params)
        self.ctx.store.update_fault(self.ctx.run_id, fault, "injected", updated)

    async def set_weight(self, action_id: str, target: WeightTarget, weight: int) -> int:
        proxy_sel: dict[str, Any] = {"admin": target.admin, "token_env": target.token_env,
                                     "token_file": target.token_file}
        if target.admin is None:
            proxy = self._admin_proxy()
            if proxy is None:
                raise PreflightRefused(f"circuit-break of {target.service}: no fault proxy with an admin endpoint "
                                       "in this experiment; set with.admin")
            proxy_sel = dict(proxy)
        token = proxy_token(proxy_sel, self.ctx.environ)
        admin, owner = str(proxy_sel["admin"]), self.ctx.run_id
        originals: dict[tuple[str, str], int] = self.__dict__.setdefault("_weight_originals", {})
        key = (admin, target.service)
        if key in originals and weight == originals[key]:
            # the breaker closes or the run ends: end this run's hold; the weight comes back only when no
            # newer hold (another run's overlapping circuit-break) sits above it (routing.Router.release)
            now = await self.host.release_weight(admin, token, target.service, owner)
            del originals[key]
            return weight if now is None else now
        previous = int(await self.host.set_weight(admin, token, target.service, weight, owner))
        originals.setdefault(key, previous)
        return previous

    def _admin_proxy(self) -> Mapping[str, Any] | None:
        return next((p.proxy for p in self.plans.values() if p.proxy.get("admin")), None)


__all__ = ["HostRunTarget", "HostTarget", "present_realisation", "proxy_token", "record_token", "remove_realisation"]
