"""The one way to read a secret: the Dapr secret store, else a `<NAME>_FILE`, else (embedded) var/.

Secret values are never logged; only their names are.
"""

from __future__ import annotations

import logging
import os
import secrets as stdlib_secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from webapp.embedded_db import var_dir

logger = logging.getLogger(__name__)


class MissingSecret(ImproperlyConfigured):
    pass


def dapr_secret_key(name: str) -> str:
    """Key names in the store: lower-case with dashes (Azure Key Vault forbids underscores)."""
    return name.lower().replace("_", "-")


def _from_dapr(name: str) -> str | None:
    """The secret from the Dapr secret store, None if the store does not have it.

    Runs while settings load, so it reads the environment directly. A sidecar that never comes
    up is a configuration error, not an absent secret: say so instead of falling through.
    """
    from dapr.clients import DaprClient

    from webapp.events.dapr_client import DeadlineInterceptor

    store = os.environ.get("DAPR_SECRET_STORE", "secretstore")
    key = dapr_secret_key(name)
    timeout = float(os.environ.get("DAPR_TIMEOUT_SECONDS") or 5.0)
    try:
        client = DaprClient(interceptors=[DeadlineInterceptor(timeout)])
    except TimeoutError as exc:
        raise MissingSecret(
            f"EVENT_RUNTIME=dapr but the Dapr sidecar did not answer; cannot read {name}"
        ) from exc
    with client:
        try:
            values = dict(client.get_secret(store_name=store, key=key).secret)
        except Exception as exc:  # grpc.RpcError: daprd answers absent keys with an error
            logger.info(
                "secret not in the Dapr secret store",
                extra={"secret": name, "store": store, "error": type(exc).__name__},
            )
            return None
    # Key Vault answers {key: value}; a Kubernetes Secret answers all its data keys, which
    # need not repeat the secret's name when it holds only the one value.
    value = values.get(key)
    if value is None and len(values) == 1:
        value = next(iter(values.values()))
    return value if value else None


def _from_file(name: str) -> str | None:
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise MissingSecret(f"{name}_FILE points at {path}, which cannot be read: {exc}") from exc


def _generated(name: str) -> str:
    folder = var_dir() / "secrets"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / name.lower()
    if not path.exists():
        path.write_text(stdlib_secrets.token_urlsafe(48))
        path.chmod(0o600)
        logger.info("generated a local secret", extra={"secret": name})
    return path.read_text().strip()


def embedded() -> bool:
    return os.environ.get("TODO_EMBEDDED", "").lower() in {"1", "true", "yes"}


def get_secret(name: str, *, required: bool = True, generate: bool = True) -> str | None:
    """Return the secret `name` (e.g. "DJANGO_SECRET_KEY").

    `generate` lets the embedded shape invent a value (a signing key); secrets that only an
    operator can know (an SMTP password) pass generate=False and are simply absent locally.
    """
    if os.environ.get("EVENT_RUNTIME") == "dapr":
        value = _from_dapr(name)
        if value is not None:
            return value
    value = _from_file(name)
    if value is not None:
        return value
    if embedded() and generate:
        return _generated(name)
    if required:
        raise MissingSecret(
            f"The secret {name} is not configured: put it in the Dapr secret store as "
            f"{dapr_secret_key(name)!r} or in a file named by {name}_FILE."
        )
    return None
