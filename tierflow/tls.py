"""Transport security from settings: kafka-python SSL/SASL kwargs and Temporal's TLSConfig.

Defaults (nothing configured) keep today's plaintext connections, so a local stack needs no
certificates. Settings are read with ``getattr`` so this works on any settings object.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from temporalio.service import TLSConfig

KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class TlsConfigError(ValueError):
    """A transport-security setting is missing, unknown or unreadable."""


def _text(settings: Any, name: str) -> str:
    value = getattr(settings, name, None)
    if value is None:
        return ""
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr
        value = value.get_secret_value()
    return str(value).strip()


def _existing_file(settings: Any, name: str) -> str:
    path = _text(settings, name)
    if path and not Path(path).is_file():
        raise TlsConfigError(f"{name}: file {path} does not exist")
    return path


def _choice(settings: Any, name: str, default: str, allowed: Sequence[str]) -> str:
    """Return the setting upper-cased (``default`` if unset); it must be one of ``allowed``."""
    value = (_text(settings, name) or default).upper()
    if value not in allowed:
        raise TlsConfigError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def kafka_security_kwargs(settings: Any) -> dict[str, Any]:
    """Return the kafka-python kwargs for the configured protocol ({} for PLAINTEXT)."""
    protocol = _choice(settings, "kafka_security_protocol", "PLAINTEXT", KAFKA_PROTOCOLS)
    if protocol == "PLAINTEXT":
        return {}
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    if protocol.endswith("SSL"):
        for field, kwarg in (
            ("kafka_ssl_cafile", "ssl_cafile"),
            ("kafka_ssl_certfile", "ssl_certfile"),
            ("kafka_ssl_keyfile", "ssl_keyfile"),
        ):
            path = _existing_file(settings, field)
            if path:
                kwargs[kwarg] = path
        if ("ssl_certfile" in kwargs) != ("ssl_keyfile" in kwargs):
            raise TlsConfigError(
                "kafka_ssl_certfile and kafka_ssl_keyfile: set both for client certificates"
            )
    if protocol.startswith("SASL"):
        kwargs.update(_sasl_kwargs(settings))
    return kwargs


def trusts_sources(settings: Any) -> bool:
    """Whether the ingress may take a record's CloudEvents ``source`` as its system client:
    only while the brokers do not authenticate producers (``ingress_trust_sources`` says so
    outright; unset, any SASL protocol, however it is spelt, means they do)."""
    said = getattr(settings, "ingress_trust_sources", None)
    if said is not None:
        return bool(said)
    protocol = _choice(settings, "kafka_security_protocol", "PLAINTEXT", KAFKA_PROTOCOLS)
    return not protocol.startswith("SASL")


def _sasl_kwargs(settings: Any) -> dict[str, Any]:
    mechanism = _choice(settings, "kafka_sasl_mechanism", "PLAIN", SASL_MECHANISMS)
    username = _text(settings, "kafka_sasl_username")
    password = _text(settings, "kafka_sasl_password")
    if not username or not password:
        missing = "kafka_sasl_username" if not username else "kafka_sasl_password"
        raise TlsConfigError(f"{missing}: required when kafka_security_protocol is SASL_*")
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


def _read(settings: Any, name: str) -> bytes | None:
    path = _existing_file(settings, name)
    return Path(path).read_bytes() if path else None


def temporal_tls(settings: Any) -> TLSConfig | bool:
    """Return ``Client.connect(tls=...)``: a TLSConfig if any temporal_tls_* is set, else False."""
    ca = _read(settings, "temporal_tls_ca")
    cert = _read(settings, "temporal_tls_cert")
    key = _read(settings, "temporal_tls_key")
    server_name = _text(settings, "temporal_tls_server_name") or None
    if (cert is None) != (key is None):
        raise TlsConfigError("temporal_tls_cert and temporal_tls_key: set both for mTLS")
    if ca is None and cert is None and server_name is None:
        return False
    return TLSConfig(
        server_root_ca_cert=ca, client_cert=cert, client_private_key=key, domain=server_name
    )
