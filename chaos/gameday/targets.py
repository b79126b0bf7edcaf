"""What an experiment's faults reach, as comparable keys: the scheduler's global exclusion refuses
to start a game day while another run has live faults on an overlapping key. Pure.

Host: the fault proxy's listen address, or the port / interface (per network namespace) of kernel
rules. Kubernetes: the namespaces the selectors reach (coarse on purpose: pods are not resolved
before the run, so two runs in one namespace count as overlapping).
"""

from __future__ import annotations

from chaos.model.experiment import Experiment


def target_keys(exp: Experiment) -> set[str]:
    keys: set[str] = set()
    spec = exp.spec
    for fault in spec.faults:
        sel = fault.selector
        if spec.target.type == "host":
            if sel.proxy is not None:
                keys.add(f"host:proxy:{sel.proxy.listen}")
            if sel.port is not None:
                keys.add(f"host:port:{sel.netns or ''}:{sel.port}")
            if sel.interface is not None:
                keys.add(f"host:interface:{sel.netns or ''}:{sel.interface}")
            continue
        context = spec.target.context or ""
        for ns in [*(sel.namespaces or [spec.target.namespace]), *sel.pods]:
            keys.add(f"k8s:{context}:{ns}")
    return keys
