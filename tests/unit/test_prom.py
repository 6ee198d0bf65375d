"""The API client against real servers on loopback: typed errors, auth, redirects, limits.

Every canned answer comes from a real HTTP(S) server on 127.0.0.1 (tests/unit/loopback.py),
so requests, its redirects and its TLS run as they do against Prometheus.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from promkit.core.errors import ConfigError, PromkitError
from promkit.core.settings import PrometheusSettings, load
from promkit.verify import client as prom
from promkit.verify.client import Credentials, PrometheusClient
from tests.support.loopback import Route, Seen, Server, not_http, reply, self_signed, serving, slow
from tests.support.mockctx import promkit_config
from tests.support.ports import free_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
Serve = Callable[..., Server]


def prometheus_settings(**changes: Any) -> PrometheusSettings:
    """promkit's default ``prometheus`` settings with ``changes``."""
    return replace(load(promkit_config()).prometheus, **changes)


URL = "http://127.0.0.1:9090"


def recorded(name: str) -> bytes:
    return (FIXTURES / "prometheus-2.42" / "green" / name).read_bytes()


def json_reply(body: bytes | dict[str, object], status: int = 200) -> Route:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return reply(status, raw, Content_Type="application/json")


def text_reply(text: str, status: int = 200, ctype: str = "text/plain") -> Route:
    return reply(status, text.encode(), Content_Type=ctype)


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start loopback servers (``serve(routes, tls=None)``); all are stopped after the test."""
    with ExitStack() as stack:
        yield lambda routes, tls=None: stack.enter_context(serving(routes, tls))


def client_for(serve: Serve, routes: Mapping[str, Route], **kwargs: object) -> PrometheusClient:
    return PrometheusClient(serve(routes).url, **kwargs)  # type: ignore[arg-type]


def one_line(error: BaseException) -> str:
    """The message, after checking it is what a user gets: one line, exit code 2."""
    assert isinstance(error, PromkitError) and error.exit_code == 2
    assert "\n" not in str(error)
    return str(error)


# -- answers ----------------------------------------------------------------------------


def test_api_returns_data_of_a_recorded_answer(serve: Serve) -> None:
    c = client_for(serve, {"/api/v1/status/runtimeinfo": json_reply(recorded("runtimeinfo.json"))})
    assert c.runtimeinfo()["storageRetention"] == "30d"


def test_config_yaml_is_the_served_text(serve: Serve) -> None:
    c = client_for(serve, {"/api/v1/status/config": json_reply(recorded("config.json"))})
    assert "scrape_interval: 15s" in c.config_yaml()


def test_query_sends_the_promql_as_a_parameter(serve: Serve) -> None:
    answer = json.loads(recorded("query-3.json"))["answer"]
    server = serve({"/api/v1/query": json_reply(answer)})
    c = PrometheusClient(server.url + "/")
    assert c.query('queue_depth{queue_name="enhancement:queue"}')["resultType"] == "vector"
    assert [(s.method, s.path) for s in server.seen] == [
        ("GET", "/api/v1/query?query=queue_depth%7Bqueue_name%3D%22enhancement%3Aqueue%22%7D")
    ]
    headers = server.seen[0].headers
    assert (headers["user-agent"], headers["accept-encoding"]) == ("promkit", "identity")


def test_a_route_prefix_is_kept(serve: Serve) -> None:
    server = serve({"/prom/api/v1/status/flags": json_reply({"status": "success", "data": {}})})
    assert PrometheusClient(server.url + "/prom/").flags() == {}


def test_invalid_promql_is_an_api_error_with_its_type(serve: Serve) -> None:
    answer = json.loads(recorded("query-invalid.json"))["answer"]
    c = client_for(serve, {"/api/v1/query": json_reply(answer, 400)})
    with pytest.raises(prom.APIError) as caught:
        c.query("sum(")
    assert caught.value.error_type == "bad_data"
    assert "parse error" in caught.value.error


@pytest.mark.parametrize("path", ["/api/v1/targets", "/-/ready"])
def test_503_is_not_ready_yet(serve: Serve, path: str) -> None:
    c = client_for(serve, {path: text_reply("Service Unavailable", 503)})
    with pytest.raises(prom.NotReady, match="is not ready yet \\(503 on "):
        c.targets() if path.startswith("/api") else c.probe(path)


def test_http_500_names_the_status_and_path(serve: Serve) -> None:
    server = serve({"/api/v1/status/flags": text_reply("internal error", 500)})
    with pytest.raises(prom.HTTPFailure) as caught:
        PrometheusClient(server.url).flags()
    assert caught.value.status == 500
    assert one_line(caught.value).startswith(
        f"Prometheus at {server.url} answered HTTP 500 for /api/v1/status/flags: internal error"
    )


def test_404_hints_at_the_url(serve: Serve) -> None:
    c = client_for(serve, {"/api/v1/targets": text_reply("404 page not found", 404)})
    with pytest.raises(prom.HTTPFailure, match=r"including any --web\.route-prefix"):
        c.targets()


def test_html_where_the_api_should_be(serve: Serve) -> None:
    html = "<!DOCTYPE html><html><title>Grafana</title></html>"
    server = serve({"/api/v1/targets": text_reply(html, ctype="text/html")})
    with pytest.raises(prom.NotPrometheus) as caught:
        PrometheusClient(server.url).targets()
    assert one_line(caught.value) == (
        f"{server.url}/api/v1/targets answered HTML, not the Prometheus API: "
        "is --url pointing at Prometheus?"
    )


def test_json_that_is_not_the_api_envelope(serve: Serve) -> None:
    c = client_for(serve, {"/api/v1/targets": json_reply({"hello": "world"})})
    with pytest.raises(prom.NotPrometheus, match="not the Prometheus API"):
        c.targets()


def test_plain_text_that_is_not_json(serve: Serve) -> None:
    c = client_for(serve, {"/api/v1/targets": text_reply("pong")})
    with pytest.raises(prom.NotPrometheus, match="text/plain: pong"):
        c.targets()


# -- no answer --------------------------------------------------------------------------


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(prom.Unreachable) as caught:
        PrometheusClient(url, timeout=1).targets()
    assert one_line(caught.value) == (
        f"cannot reach Prometheus at {url}: connection refused; is it running? (inv status.local)"
    )


def test_unknown_host() -> None:
    with pytest.raises(prom.Unreachable) as caught:
        PrometheusClient("http://promkit-test.invalid:9090", timeout=2).targets()
    assert one_line(caught.value) == (
        "cannot reach Prometheus at http://promkit-test.invalid:9090: unknown host; "
        "is it running? (inv status.local)"
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_call_times_out(serve: Serve, method: str) -> None:
    server = serve({"*": slow(1.0, reply(200, b"{}"))})
    c = PrometheusClient(server.url, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(prom.TimedOut) as caught:
        c.probe("/-/healthy") if method == "GET" else c.post("/-/reload")
    assert time.monotonic() - started < 0.9
    path = "/-/healthy" if method == "GET" else "/-/reload"
    assert one_line(caught.value).startswith(
        f"Prometheus at {server.url} did not answer {server.url}{path} within 0.2s"
    )


def test_a_body_that_stalls_times_out(serve: Serve) -> None:
    def stall(h: BaseHTTPRequestHandler, _: Seen) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.wfile.write(b'{"status":')
        h.wfile.flush()
        time.sleep(1.0)

    c = client_for(serve, {"*": stall}, timeout=0.2)
    with pytest.raises(prom.TimedOut, match=r"within 0\.2s"):
        c.targets()


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (
            b"",
            prom.Unreachable,
            "cannot reach Prometheus at {url}: Remote end closed connection without response; "
            "is it running? (inv status.local)",
        ),
        (
            b"-ERR unknown command\r\n",
            prom.NotPrometheus,
            "{url}/api/v1/targets did not answer in HTTP (BadStatusLine): "
            "is --url pointing at Prometheus' web port?",
        ),
    ],
    ids=["hangs-up", "speaks-redis"],
)
def test_a_server_that_does_not_answer_in_http(
    answer: bytes, error: type[Exception], message: str
) -> None:
    with not_http(answer) as url, pytest.raises(error) as caught:
        PrometheusClient(url, timeout=2).targets()
    assert one_line(caught.value) == message.format(url=url)


# -- the body limit ----------------------------------------------------------------------


def test_a_declared_body_past_the_limit_is_not_read(serve: Serve) -> None:
    server = serve({"*": json_reply(b"[" + b"0," * 2000 + b"0]")})
    with pytest.raises(prom.TooLarge) as caught:
        PrometheusClient(server.url, max_body_bytes=1024).targets()
    assert one_line(caught.value) == (
        f"{server.url}/api/v1/targets answered more than 1024 bytes, the most promkit reads "
        "of one answer, so it stopped reading: is --url pointing at Prometheus' web port?"
    )


def test_an_endless_body_is_cut_at_the_limit(serve: Serve) -> None:
    sent: list[int] = []

    def endless(h: BaseHTTPRequestHandler, _: Seen) -> None:
        # HTTP/1.0 with no Content-Length: the body goes on until the server closes.
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()
        chunk = b"x" * 65536
        try:
            while len(sent) < 10_000:  # 640 MiB: never reached unless the client reads on
                h.wfile.write(chunk)
                sent.append(len(chunk))
        except OSError:
            pass

    server = serve({"*": endless})
    with pytest.raises(prom.TooLarge, match=f"^{server.url}/api/v1/targets answered more than"):
        PrometheusClient(server.url, max_body_bytes=1_000_000).targets()
    time.sleep(0.2)
    assert sum(sent) < 20_000_000


def test_a_body_at_the_limit_is_read_whole(serve: Serve) -> None:
    body = recorded("buildinfo.json")
    c = client_for(serve, {"*": json_reply(body)}, max_body_bytes=len(body))
    assert c.buildinfo()["version"] == "2.42.0+ds"


# -- TLS --------------------------------------------------------------------------------


def test_https_needs_the_ca_file_that_signed_the_certificate(serve: Serve, tmp_path: Path) -> None:
    cert, tls = self_signed(tmp_path)
    server = serve({"/api/v1/status/buildinfo": json_reply(recorded("buildinfo.json"))}, tls)
    with pytest.raises(prom.TLSFailure) as caught:
        PrometheusClient(server.url, timeout=2).buildinfo()
    assert one_line(caught.value) == (
        f"TLS with {server.url}/api/v1/status/buildinfo failed: self-signed certificate; "
        "set prometheus.ca_file to the CA bundle that signed its certificate, "
        "or use http:// if it does not speak TLS"
    )
    assert PrometheusClient(server.url, ca_file=str(cert)).buildinfo()["version"] == "2.42.0+ds"
    settings = prometheus_settings(url=server.url, timeout=2, ca_file=str(cert))
    assert prom.client_from_settings(settings, environ={}).buildinfo()["version"] == "2.42.0+ds"


def test_https_against_plain_http(serve: Serve) -> None:
    url = serve({"*": reply(200, b"{}")}).url.replace("http://", "https://")
    with pytest.raises(prom.TLSFailure) as caught:
        PrometheusClient(url, timeout=2).targets()
    assert one_line(caught.value).startswith(f"TLS with {url}/api/v1/targets failed: ")


# -- credentials and redirects ------------------------------------------------------------


def test_401_without_credentials_names_the_variables(serve: Serve) -> None:
    c = client_for(
        serve,
        {"/-/healthy": text_reply("no", 401)},
        credentials=prom.credentials_from_settings(prometheus_settings(), {}),
    )
    with pytest.raises(prom.AuthFailed) as caught:
        c.probe("/-/healthy")
    message = one_line(caught.value)
    assert "answered 401 Unauthorized: credentials are needed" in message
    assert "$PROMKIT_PROMETHEUS_USERNAME and $PROMKIT_PROMETHEUS_PASSWORD" in message
    assert "$PROMKIT_PROMETHEUS_TOKEN" in message


def test_rejected_credentials_never_show_the_secret(serve: Serve) -> None:
    creds = prom.credentials_from_settings(
        prometheus_settings(),
        {"PROMKIT_PROMETHEUS_USERNAME": "ops", "PROMKIT_PROMETHEUS_PASSWORD": "hunter2"},
    )
    server = serve({"/-/ready": text_reply("no", 403), "/-/reload": text_reply("no", 401)})
    c = PrometheusClient(server.url, credentials=creds)
    with pytest.raises(prom.AuthFailed) as caught:
        c.probe("/-/ready")
    assert "403 Forbidden: the credentials ($PROMKIT_PROMETHEUS_USERNAME with " in str(caught.value)
    with pytest.raises(prom.AuthFailed, match="401 Unauthorized: the credentials") as posted:
        c.post("/-/reload")
    for text in (str(caught.value), str(posted.value), repr(creds), repr(c.credentials)):
        assert "hunter2" not in text
    assert all(s.headers["authorization"] == "Basic b3BzOmh1bnRlcjI=" for s in server.seen)


def test_basic_and_bearer_headers() -> None:
    basic = Credentials("ops", "pw").header()["Authorization"]
    assert basic == "Basic b3BzOnB3"
    assert Credentials(token="t0k").header() == {"Authorization": "Bearer t0k"}
    assert Credentials().header() == {}


def test_a_secret_that_cannot_be_a_header_is_a_config_error() -> None:
    creds = Credentials(token="t0k\nX-Injected: 1", source="bearer token from $T")
    with pytest.raises(ConfigError) as caught:
        PrometheusClient(URL, credentials=creds)
    assert one_line(caught.value).startswith("the credentials (bearer token from $T) cannot be")
    assert "t0k" not in str(caught.value)


@pytest.mark.parametrize(
    "credentials",
    [Credentials(token="t0k"), Credentials("ops", "pw")],
    ids=["bearer", "basic"],
)
def test_credentials_never_follow_a_redirect_to_another_origin(
    serve: Serve, credentials: Credentials
) -> None:
    elsewhere = serve({"/login": text_reply("<title>x</title>", ctype="text/html")})
    home = serve(
        {
            "/": reply(302, Location="/graph"),
            "/graph": reply(302, Location=f"{elsewhere.url}/login"),
        }
    )
    c = PrometheusClient(home.url, credentials=credentials)
    answer = c.fetch("/")
    assert (answer.url, answer.status) == (f"{elsewhere.url}/login", 200)
    expected = credentials.header()["Authorization"]
    assert [(s.path, s.headers.get("authorization")) for s in home.seen] == [
        ("/", expected),
        ("/graph", expected),
    ]
    c.fetch(f"{elsewhere.url}/login")  # an absolute URL elsewhere, as verify.ui follows
    assert [(s.path, "authorization" in s.headers) for s in elsewhere.seen] == [
        ("/login", False),
        ("/login", False),
    ]


def test_redirect_loop_stops_at_its_last_answer(serve: Serve) -> None:
    server = serve({"/": reply(302, Location="/")})
    answer = PrometheusClient(server.url).fetch("/")
    assert answer.status == 302 and len(server.seen) == prom.MAX_REDIRECTS + 1


def test_post_is_not_redirected(serve: Serve) -> None:
    server = serve({"/-/reload": reply(307, Location="/elsewhere")})
    answer = PrometheusClient(server.url).post("/-/reload")
    assert answer.status == 307
    assert [(s.method, s.path) for s in server.seen] == [("POST", "/-/reload")]


# -- settings -------------------------------------------------------------------------


def test_credentials_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    creds = prom.credentials_from_settings(
        prometheus_settings(password_file=str(secret)), {"PROMKIT_PROMETHEUS_USERNAME": "ops"}
    )
    assert (creds.username, creds.password) == ("ops", "s3cret")
    token = tmp_path / "token"
    token.write_text("abc")
    assert (
        prom.credentials_from_settings(prometheus_settings(token_file=str(token)), {}).token
        == "abc"
    )


@pytest.mark.parametrize(
    ("settings", "environ", "message"),
    [
        ({}, {"PROMKIT_PROMETHEUS_USERNAME": "ops"}, "is set but no password"),
        ({}, {"PROMKIT_PROMETHEUS_PASSWORD": "pw"}, "but no user name"),
        (
            {},
            {
                "PROMKIT_PROMETHEUS_USERNAME": "u",
                "PROMKIT_PROMETHEUS_PASSWORD": "p",
                "PROMKIT_PROMETHEUS_TOKEN": "t",
            },
            "keep one",
        ),
        ({"token_file": "/nonexistent/token"}, {}, "cannot read /nonexistent/token"),
    ],
)
def test_bad_credential_settings(
    settings: dict[str, str], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        prom.credentials_from_settings(prometheus_settings(**settings), environ)
    assert "pw" not in str(caught.value).replace("password", "")


def test_env_var_names_are_settings() -> None:
    creds = prom.credentials_from_settings(
        prometheus_settings(token_env="MY_TOKEN"), {"MY_TOKEN": "x"}
    )
    assert creds.token == "x" and creds.source == "bearer token from $MY_TOKEN"


@pytest.mark.parametrize("url", ["127.0.0.1:9090", "ftp://h", "http://", "http://u:p@h:9090"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match=r"prometheus\.url"):
        prom.check_url(url)


def test_client_from_settings_takes_url_and_timeout() -> None:
    # The CA file: test_https_needs_the_ca_file_that_signed_the_certificate.
    base = prometheus_settings(url=URL, timeout=2)
    client = prom.client_from_settings(base, environ={})
    assert (client.base_url, client.timeout) == (URL, 2.0)
    assert prom.client_from_settings(base, "http://h:1/prom/", environ={}).base_url == (
        "http://h:1/prom"
    )
