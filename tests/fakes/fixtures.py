"""pytest fixtures for the fake Dapr sidecar and the app driver (see dapr_sidecar.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from dapr.conf import settings as dapr_settings
from dapr.ext.grpc import App

from tests.fakes.dapr_sidecar import AppDriver, FakeDaprSidecar

# The SDK's own settings the fixture points at the fake; each is restored afterwards.
_DAPR_SETTINGS: dict[str, Callable[[FakeDaprSidecar], object]] = {
    "DAPR_GRPC_ENDPOINT": lambda sidecar: sidecar.grpc_endpoint,
    "DAPR_HTTP_ENDPOINT": lambda sidecar: sidecar.http_endpoint,
    "DAPR_GRPC_PORT": lambda sidecar: sidecar.grpc_port,
    "DAPR_HTTP_PORT": lambda sidecar: sidecar.http_port,
    # A client waiting for a sidecar that is down gives up quickly instead of after 60 s.
    "DAPR_HEALTH_TIMEOUT": lambda sidecar: 2,
}


@pytest.fixture
def dapr_sidecar(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDaprSidecar]:
    """A running fake sidecar; `dapr.conf.settings` and the DAPR_* env point at it.

    The env is set too, for code that reads it directly or starts a subprocess. It does not
    set EVENT_RUNTIME: tests choose the runtime themselves.
    """
    sidecar = FakeDaprSidecar().start()
    # Not monkeypatch.setattr: the SDK's settings object reads the env for names it does not
    # hold, and restoring a read value would pin it; delete what was not there before.
    saved = dict(vars(dapr_settings))
    for name, value_of in _DAPR_SETTINGS.items():
        value = value_of(sidecar)
        setattr(dapr_settings, name, value)
        monkeypatch.setenv(name, str(value))
    try:
        yield sidecar
    finally:
        sidecar.stop()
        for name in _DAPR_SETTINGS:
            if name in saved:
                setattr(dapr_settings, name, saved[name])
            else:
                vars(dapr_settings).pop(name, None)


@pytest.fixture
def app_driver() -> Iterator[Callable[[App], AppDriver]]:
    """`app_driver(app)` serves the App on a free port and returns a driver that calls it."""
    drivers: list[AppDriver] = []

    def drive(app: App) -> AppDriver:
        driver = AppDriver(app)
        drivers.append(driver)
        return driver

    yield drive
    for driver in drivers:
        driver.close()
