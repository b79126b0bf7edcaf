"""Values read from the environment after templating: they are :class:`~chaos.secrets.Secret`
and may only go to header values (masked everywhere) or addresses (used as written; a URL's
userinfo is split off later by ``MonitorSpec``); anywhere else they are refused. Helpers to find,
reveal and mask the secret parts of a rendered value. Pure. Callers:
:mod:`chaos.loading.parameters`, :mod:`chaos.loading.recipes`.
"""

from __future__ import annotations

from typing import Any

from chaos.errors import Problem
from chaos.loading.paths import PathT, format_path, place
from chaos.secrets import Secret

SECRET_SINKS = "header values (monitor.headers, with.http.headers, with.revert.headers, with.headers)"
ADDRESS_KEYS = frozenset({"prometheus", "url", "admin", "listen", "upstream", "alertmanager"})
"""Fields that may take an address from the environment: it is used as written, except a URL's
userinfo, which is split off as a secret (``MonitorSpec``) or refused (webhooks, proxy admin)."""


def is_sink(path: PathT) -> bool:
    return len(path) >= 2 and path[-2] == "headers"


def has_secret(value: Any) -> bool:
    if isinstance(value, Secret):
        return True
    if isinstance(value, dict):
        return any(has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(has_secret(v) for v in value)
    return False


def secret_parts(value: Any) -> list[str]:
    if isinstance(value, Secret):
        return [value.reveal(), *value.parts]
    if isinstance(value, dict):
        return [p for v in value.values() for p in secret_parts(v)]
    if isinstance(value, list):
        return [p for v in value for p in secret_parts(v)]
    return []


def revealed(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, dict):
        return {k: revealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [revealed(v) for v in value]
    return value


def misplaced_secrets(value: Any, path: PathT, source: str, lines: dict[PathT, int]) -> list[Problem]:
    """Secrets may go to header values; addresses are used as plain text; anything else is refused."""
    if isinstance(value, dict):
        out: list[Problem] = []
        for k, v in value.items():
            child = (*path, k)
            if isinstance(v, Secret) and not is_sink(child):
                if k in ADDRESS_KEYS:
                    value[k] = v.reveal()
                    continue
                out.append(place(Problem(
                    "this value reads the environment (env.NAME, directly or through a parameter); values from "
                    f"the environment are secrets and may only be used in {SECRET_SINKS} and in addresses "
                    f"({', '.join(sorted(ADDRESS_KEYS))})", path=format_path(child),
                    hint="pass a non-secret value as a parameter with --set NAME=VALUE"), source, lines))
            else:
                out += misplaced_secrets(v, child, source, lines)
        return out
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in misplaced_secrets(v, (*path, i), source, lines)]
    return []
