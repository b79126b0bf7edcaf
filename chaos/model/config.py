"""The optional config file of the CLI (``$XDG_CONFIG_HOME/aftershock/config.yaml``): the model and
the environment variable each key stands for. Read by :mod:`chaos.config`. Pure."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV: dict[str, str] = {
    "prometheusUrl": "AFTERSHOCK_PROMETHEUS_URL",
    "prometheusTokenFile": "AFTERSHOCK_PROMETHEUS_TOKEN_FILE",
    "stateDir": "AFTERSHOCK_STATE_DIR",
    "kubeconfig": "KUBECONFIG",
    "context": "AFTERSHOCK_CONTEXT",
    "namespace": "AFTERSHOCK_NAMESPACE",
    "logLevel": "AFTERSHOCK_LOG_LEVEL",
    "logFormat": "AFTERSHOCK_LOG_FORMAT",
    "pushgateway": "AFTERSHOCK_PUSHGATEWAY_URL",
    "alertmanager": "AFTERSHOCK_ALERTMANAGER_URL",
}
"""Config-file key → the environment variable it stands for (the same name the flags read)."""


class Config(BaseModel):
    """``config.yaml``: every key optional; unknown keys refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)

    prometheus_url: str | None = Field(None, alias="prometheusUrl",
                                       description="Prometheus base URL (overrides spec.monitor.prometheus)")
    prometheus_token_file: str | None = Field(None, alias="prometheusTokenFile",
                                              description="bearer token file for Prometheus (overrides "
                                                          "spec.monitor.bearerTokenFile)")
    state_dir: str | None = Field(None, alias="stateDir", description="state directory")
    kubeconfig: str | None = Field(None, description="kubeconfig file")
    context: str | None = Field(None, description="kubeconfig context")
    namespace: str | None = Field(None, description="Kubernetes namespace (overrides spec.target.namespace)")
    log_level: Literal["debug", "info", "warning", "error"] | None = Field(None, alias="logLevel")
    log_format: Literal["text", "json"] | None = Field(None, alias="logFormat")
    color: bool | None = Field(None, description="false: no colour, as NO_COLOR")
    pushgateway: str | None = Field(None, description="Pushgateway URL `aftershock run` pushes its metrics to")
    alertmanager: str | None = Field(None, description="Alertmanager URL the examples' `alerting` reads; "
                                                       "`recover` sends a silence record's credentials only there "
                                                       "or to a listener of yours on this host")

    @field_validator("prometheus_url", "pushgateway", "alertmanager")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value


