"""HTTP for tests and figures, through requests, with an explicit timeout on every call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

Auth = tuple[str, str]


def get(
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    auth: Auth | None = None,
    timeout: float = 5.0,
) -> requests.Response:
    """The answer to a GET, whatever its status (connection errors raise, as OSError)."""
    return requests.get(url, params=params, auth=auth, timeout=timeout)


def request(
    method: str, url: str, body: Any = None, *, auth: Auth | None = None, timeout: float = 5.0
) -> tuple[int, Any]:
    """Status and decoded body (JSON when it parses, else text) of one request; ``body``
    is sent as JSON."""
    answer = requests.request(method, url, json=body, auth=auth, timeout=timeout)
    try:
        return answer.status_code, answer.json()
    except ValueError:
        return answer.status_code, answer.text


def status(url: str, timeout: float = 1.0) -> int:
    """The status of a GET, 0 when nothing answers."""
    try:
        return get(url, timeout=timeout).status_code
    except requests.RequestException:
        return 0


def api_data(
    url: str,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    auth: Auth | None = None,
    timeout: float = 10.0,
) -> Any:
    """The ``data`` of a Prometheus API answer; AssertionError with the body unless 200."""
    answer = get(url + path, params=params, auth=auth, timeout=timeout)
    assert answer.status_code == 200, (answer.url, answer.status_code, answer.text[:300])
    return answer.json()["data"]


def active_targets(url: str, auth: Auth | None = None) -> list[dict[str, Any]]:
    """Prometheus' active targets at ``url``, as its API gives them."""
    data = api_data(url, "/api/v1/targets", {"state": "active"}, auth=auth)
    return list(data["activeTargets"])
