"""Host target: real faults on a machine without Kubernetes.

Userspace faults go through the asyncio fault proxy (:mod:`.proxy`, controlled in-process or over its
admin endpoint with :class:`.admin.ProxyAdminClient`); kernel faults use iptables (:mod:`.iptables`)
and tc (:mod:`.tc`), each bounded by a detached watchdog (:mod:`.watchdog`). :mod:`.capabilities` says
what this host can do. Callers: the run engine, ``aftershock recover`` and ``aftershock doctor``.
"""
