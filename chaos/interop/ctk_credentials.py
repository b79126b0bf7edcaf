"""Where a Chaos Toolkit experiment sends credentials: every activity (method, hypothesis, rollbacks,
controls) that puts a credential — a secret, a configuration value read from a credential-like
environment variable (``AWS_SECRET_ACCESS_KEY``), a credential file (the service-account token,
``~/.aws/credentials``, a kubeconfig) — into a request or a command line that goes to a host other
than this one. ``aftershock import`` refuses such a file unless the host is acknowledged
(``--allow-credentials-to HOST``). Credentials a Python driver uses for its own API (``secrets:
[scope]`` handed to ``chaosaws``) go where the driver sends them and are not reported. Pure.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CREDENTIAL_NAME_RE = re.compile(r"SECRET|TOKEN|PASSW|PASSWD|PWD|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|AUTH|COOKIE",
                                re.IGNORECASE)
CREDENTIAL_FILES = ("/var/run/secrets/", "/run/secrets/", ".aws/credentials", ".kube/config", "kubeconfig",
                    ".ssh/id_", ".docker/config.json", ".netrc", ".git-credentials", "gcloud/credentials",
                    "application_default_credentials.json", "/etc/shadow", ".azure/")
URL_RE = re.compile(r"\b(?:https?|wss?|ftp)://[^\s'\"<>]+", re.IGNORECASE)
REF_RE = re.compile(r"\$\{([A-Za-z0-9_.-]+)\}")
SHELL_VAR_RE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Leak:
    where: str
    credential: str
    host: str

    def render(self) -> str:
        return f"{self.where}: sends {self.credential} to {self.host}"


def is_local(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _hosts(texts: list[str], resolve: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for text in texts:
        text = REF_RE.sub(lambda m: resolve.get(m.group(1), m.group(0)), text)
        for url in URL_RE.findall(text):
            host = urlsplit(url).hostname or ""
            if host and not is_local(host) and not host.startswith("${"):
                out.append(host)
    return list(dict.fromkeys(out))


def leaks(document: Any) -> list[Leak]:
    """Every (activity, credential, host) where a credential leaves this host."""
    if not isinstance(document, dict):
        return []
    raw_configuration, raw_secrets = document.get("configuration"), document.get("secrets")
    configuration: dict[str, Any] = raw_configuration if isinstance(raw_configuration, dict) else {}
    secrets: dict[str, Any] = raw_secrets if isinstance(raw_secrets, dict) else {}
    credential_keys: dict[str, str] = {}
    for scope, values in secrets.items():
        if isinstance(values, dict):
            for key, value in values.items():
                env = value.get("key") if isinstance(value, dict) and value.get("type") == "env" else None
                credential_keys[str(key)] = f"secret {scope}.{key}" + (f" (${env})" if env else "")
    literal: dict[str, str] = {}
    for key, value in configuration.items():
        if isinstance(value, dict) and value.get("type") == "env" and CREDENTIAL_NAME_RE.search(str(value.get("key"))):
            credential_keys[str(key)] = f"${value.get('key')} (configuration.{key})"
        elif isinstance(value, str):
            literal[str(key)] = value
            if any(f in value for f in CREDENTIAL_FILES):
                credential_keys[str(key)] = f"the file {value} (configuration.{key})"

    def activities() -> Iterator[tuple[str, Any]]:
        hypothesis = document.get("steady-state-hypothesis")
        probes = hypothesis.get("probes") if isinstance(hypothesis, dict) else None
        for section, items in (("steady-state-hypothesis.probes", probes), ("method", document.get("method")),
                               ("rollbacks", document.get("rollbacks")), ("controls", document.get("controls"))):
            for i, item in enumerate(items if isinstance(items, list) else []):
                if isinstance(item, dict):
                    yield f"{section}[{i}] ({item.get('name') or item.get('ref')})", item

    out: list[Leak] = []
    for where, activity in activities():
        provider = activity.get("provider")
        if not isinstance(provider, dict):
            continue
        kind = provider.get("type")
        if kind == "http":
            sent = [*_strings(provider.get("url")), *_strings(provider.get("headers")),
                    *_strings(provider.get("arguments"))]
            destinations = _hosts([str(provider.get("url") or "")], literal)
        elif kind == "process":
            sent = [*_strings(provider.get("path")), *_strings(provider.get("arguments"))]
            destinations = _hosts(sent, literal)
        elif kind == "python":
            sent = list(_strings(provider.get("arguments")))
            destinations = _hosts(sent, literal)
        else:
            continue
        if not destinations:
            continue
        found: list[str] = []
        for text in sent:
            found += [credential_keys[k] for k in REF_RE.findall(text) if k in credential_keys]
            files = [f for f in CREDENTIAL_FILES if f in text]
            found += [f"a credential file ({files[0]}…)"] if files else []
            if kind == "process":
                found += [f"${v}" for v in SHELL_VAR_RE.findall(REF_RE.sub("", text)) if CREDENTIAL_NAME_RE.search(v)]
        for credential in dict.fromkeys(found):
            for host in destinations:
                out.append(Leak(where, credential, host))
    return out
