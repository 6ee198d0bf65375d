"""The client obeys the environment's proxy settings (HTTP_PROXY, NO_PROXY) on every request."""

from __future__ import annotations

import pytest

from promkit.verify.client import PrometheusClient
from tests.support import reply, serving


def test_every_request_goes_through_the_environments_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serving({"*": reply(200, b"Prometheus Server is Healthy.")}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        client = PrometheusClient("http://prometheus.invalid:9090")
        for _ in range(3):
            assert client.probe("/-/healthy").status == 200
    # A proxy is asked for the absolute URL: each request went through it.
    assert [seen.path for seen in proxy.seen] == ["http://prometheus.invalid:9090/-/healthy"] * 3


def test_no_proxy_is_obeyed_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        serving({"*": reply(200, b"ok")}) as proxy,
        serving({"*": reply(200, b"Prometheus Server is Healthy.")}) as prometheus,
    ):
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("http_proxy", raising=False)
        client = PrometheusClient(prometheus.url)
        for _ in range(2):
            client.probe("/-/healthy")
    assert proxy.seen == [] and [s.path for s in prometheus.seen] == ["/-/healthy"] * 2
