"""The API client: typed errors from what happened, auth, redirects, secrets never shown.

Most tests inject a transport answering recorded envelopes; the last ones use
the real urllib transport against a real HTTP server on loopback.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from promkit import prom
from promkit.errors import ConfigError, PromkitError
from promkit.prom import Credentials, HttpRequest, HttpResponse, PrometheusClient

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
URL = "http://127.0.0.1:9090"
Handle = Callable[[BaseHTTPRequestHandler], None]
Start = Callable[[Handle], str]


def recorded(name: str) -> bytes:
    return (FIXTURES / "prometheus-2.42" / "green" / name).read_bytes()


class FakeTransport:
    """Answers by URL path; records every request it saw."""

    def __init__(self, answers: dict[str, HttpResponse | Exception]) -> None:
        self.answers = answers
        self.seen: list[HttpRequest] = []

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.seen.append(request)
        path = request.url.split("://", 1)[1].split("/", 1)[1].split("?")[0]
        answer = self.answers["/" + path]
        if isinstance(answer, Exception):
            raise answer
        return answer


def json_answer(body: bytes | dict[str, object], status: int = 200) -> HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, {"Content-Type": "application/json"}, raw)


def text_answer(text: str, status: int = 200, ctype: str = "text/plain") -> HttpResponse:
    return HttpResponse(status, {"Content-Type": ctype}, text.encode())


def client(answers: dict[str, HttpResponse | Exception], **kwargs: object) -> PrometheusClient:
    return PrometheusClient(URL, transport=FakeTransport(answers), **kwargs)  # type: ignore[arg-type]


def test_api_returns_data_of_a_recorded_answer() -> None:
    c = client({"/api/v1/status/runtimeinfo": json_answer(recorded("runtimeinfo.json"))})
    assert c.runtimeinfo()["storageRetention"] == "30d"


def test_config_yaml_is_the_served_text() -> None:
    c = client({"/api/v1/status/config": json_answer(recorded("config.json"))})
    assert "scrape_interval: 15s" in c.config_yaml()


def test_query_sends_the_promql_as_a_parameter() -> None:
    transport = FakeTransport(
        {"/api/v1/query": json_answer(json.loads(recorded("query-3.json"))["answer"])}
    )
    c = PrometheusClient(URL + "/", transport=transport)
    assert c.query('queue_depth{queue_name="enhancement:queue"}')["resultType"] == "vector"
    assert transport.seen[0].url == (
        URL + "/api/v1/query?query=queue_depth%7Bqueue_name%3D%22enhancement%3Aqueue%22%7D"
    )
    assert transport.seen[0].timeout == 5.0


def test_invalid_promql_is_an_api_error_with_its_type() -> None:
    answer = json.loads(recorded("query-invalid.json"))["answer"]
    c = client({"/api/v1/query": json_answer(answer, 400)})
    with pytest.raises(prom.APIError) as caught:
        c.query("sum(")
    assert caught.value.error_type == "bad_data"
    assert "parse error" in caught.value.error


@pytest.mark.parametrize(
    ("failure", "error", "message"),
    [
        (
            urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")),
            prom.Unreachable,
            f"cannot reach Prometheus at {URL}: connection refused; "
            "is it running? (inv status.local)",
        ),
        (
            urllib.error.URLError(socket.gaierror(-2, "Name or service not known")),
            prom.Unreachable,
            f"cannot reach Prometheus at {URL}: unknown host; is it running? (inv status.local)",
        ),
        (
            TimeoutError("timed out"),
            prom.TimedOut,
            f"Prometheus at {URL} did not answer {URL}/api/v1/targets within 5s",
        ),
        (urllib.error.URLError(TimeoutError("timed out")), prom.TimedOut, "within 5s"),
        (
            urllib.error.URLError(ssl.SSLCertVerificationError(1, "certificate verify failed")),
            prom.TLSFailure,
            "set prometheus.ca_file",
        ),
        (ssl.SSLError(1, "wrong version number"), prom.TLSFailure, "TLS with"),
    ],
)
def test_transport_failures_become_typed_errors(
    failure: Exception, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        client({"/api/v1/targets": failure}).targets()
    assert message in str(caught.value)
    assert isinstance(caught.value, PromkitError) and caught.value.exit_code == 2


@pytest.mark.parametrize("path", ["/api/v1/targets", "/-/ready"])
def test_503_is_not_ready_yet(path: str) -> None:
    c = client({path: text_answer("Service Unavailable", 503)})
    with pytest.raises(prom.NotReady, match="is not ready yet \\(503 on "):
        c.targets() if path.startswith("/api") else c.probe(path)


def test_http_500_names_the_status_and_path() -> None:
    with pytest.raises(prom.HTTPFailure) as caught:
        client({"/api/v1/status/flags": text_answer("internal error", 500)}).flags()
    assert caught.value.status == 500
    assert str(caught.value).startswith(
        f"Prometheus at {URL} answered HTTP 500 for /api/v1/status/flags: internal error"
    )


def test_404_hints_at_the_url() -> None:
    with pytest.raises(prom.HTTPFailure, match=r"including any --web\.route-prefix"):
        client({"/api/v1/targets": text_answer("404 page not found", 404)}).targets()


def test_html_where_the_api_should_be() -> None:
    html = text_answer("<!DOCTYPE html><html><title>Grafana</title></html>", ctype="text/html")
    with pytest.raises(prom.NotPrometheus) as caught:
        client({"/api/v1/targets": html}).targets()
    assert str(caught.value) == (
        f"{URL}/api/v1/targets answered HTML, not the Prometheus API: "
        "is --url pointing at Prometheus?"
    )


def test_json_that_is_not_the_api_envelope() -> None:
    with pytest.raises(prom.NotPrometheus, match="not the Prometheus API"):
        client({"/api/v1/targets": json_answer({"hello": "world"})}).targets()


def test_plain_text_that_is_not_json() -> None:
    with pytest.raises(prom.NotPrometheus, match="text/plain: pong"):
        client({"/api/v1/targets": text_answer("pong")}).targets()


def test_401_without_credentials_names_the_variables() -> None:
    c = PrometheusClient(
        URL,
        transport=FakeTransport({"/-/healthy": text_answer("no", 401)}),
        credentials=prom.credentials_from_settings({}, {}),
    )
    with pytest.raises(prom.AuthFailed) as caught:
        c.probe("/-/healthy")
    message = str(caught.value)
    assert "answered 401 Unauthorized: credentials are needed" in message
    assert "$PROMKIT_PROMETHEUS_USERNAME and $PROMKIT_PROMETHEUS_PASSWORD" in message
    assert "$PROMKIT_PROMETHEUS_TOKEN" in message


def test_rejected_credentials_never_show_the_secret() -> None:
    creds = prom.credentials_from_settings(
        {}, {"PROMKIT_PROMETHEUS_USERNAME": "ops", "PROMKIT_PROMETHEUS_PASSWORD": "hunter2"}
    )
    c = PrometheusClient(
        URL, transport=FakeTransport({"/-/ready": text_answer("no", 403)}), credentials=creds
    )
    with pytest.raises(prom.AuthFailed) as caught:
        c.probe("/-/ready")
    assert "403 Forbidden: the credentials ($PROMKIT_PROMETHEUS_USERNAME with " in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(creds) and "hunter2" not in repr(c.credentials)


def test_basic_and_bearer_headers() -> None:
    basic = Credentials("ops", "pw").header()["Authorization"]
    assert basic == "Basic b3BzOnB3"
    assert Credentials(token="t0k").header() == {"Authorization": "Bearer t0k"}
    assert Credentials().header() == {}


def test_redirects_are_followed_and_credentials_stay_home() -> None:
    transport = FakeTransport(
        {
            "/": HttpResponse(302, {"Location": "/graph"}, b""),
            "/graph": HttpResponse(302, {"Location": "http://elsewhere.example/login"}, b""),
            "/login": text_answer("<title>x</title>", ctype="text/html"),
        }
    )
    c = PrometheusClient(URL, transport=transport, credentials=Credentials(token="t0k"))
    answer = c.fetch("/")
    assert answer.url == "http://elsewhere.example/login" and answer.status == 200
    assert [("Authorization" in r.headers) for r in transport.seen] == [True, True, False]


def test_redirect_loop_stops() -> None:
    transport = FakeTransport({"/": HttpResponse(302, {"Location": "/"}, b"")})
    answer = PrometheusClient(URL, transport=transport).fetch("/")
    assert answer.status == 302 and len(transport.seen) == prom.MAX_REDIRECTS + 1


# -- settings -------------------------------------------------------------------------


def test_credentials_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    creds = prom.credentials_from_settings(
        {"password_file": str(secret)}, {"PROMKIT_PROMETHEUS_USERNAME": "ops"}
    )
    assert (creds.username, creds.password) == ("ops", "s3cret")
    token = tmp_path / "token"
    token.write_text("abc")
    assert prom.credentials_from_settings({"token_file": str(token)}, {}).token == "abc"


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
        prom.credentials_from_settings(settings, environ)
    assert "pw" not in str(caught.value).replace("password", "")


def test_env_var_names_are_settings() -> None:
    creds = prom.credentials_from_settings({"token_env": "MY_TOKEN"}, {"MY_TOKEN": "x"})
    assert creds.token == "x" and creds.source == "bearer token from $MY_TOKEN"


@pytest.mark.parametrize("url", ["127.0.0.1:9090", "ftp://h", "http://", "http://u:p@h:9090"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match=r"prometheus\.url"):
        prom.check_url(url)


def test_client_from_settings_checks_timeout_and_ca_file(tmp_path: Path) -> None:
    base = {"url": URL, "timeout": 2}
    assert prom.client_from_settings(base, environ={}).timeout == 2.0
    assert prom.client_from_settings(base, "http://h:1/prom/", environ={}).base_url == (
        "http://h:1/prom"
    )
    with pytest.raises(ConfigError, match=r"prometheus\.timeout"):
        prom.client_from_settings({**base, "timeout": 0}, environ={})
    with pytest.raises(ConfigError, match=r"prometheus\.timeout"):
        prom.client_from_settings({**base, "timeout": "soon"}, environ={})
    with pytest.raises(ConfigError, match="is not a file"):
        prom.client_from_settings({**base, "ca_file": str(tmp_path / "none.pem")}, environ={})


# -- the real transport, against a real server on loopback ----------------------------------


@pytest.fixture
def server() -> Iterator[Start]:
    started: list[ThreadingHTTPServer] = []

    def start(handle: Callable[[BaseHTTPRequestHandler], None]) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                handle(self)

            def log_message(self, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def reply(status: int, body: bytes, **headers: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def handle(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    return handle


def test_real_transport_returns_error_statuses_and_does_not_redirect(server: Start) -> None:
    url = server(reply(302, b"", Location="/elsewhere"))
    answer = prom.urllib_transport()(HttpRequest(url + "/", {}, 2.0))
    assert answer.status == 302 and answer.header("location") == "/elsewhere"
    url = server(reply(500, b"boom"))
    answer = prom.urllib_transport()(HttpRequest(url + "/x", {}, 2.0))
    assert (answer.status, answer.body) == (500, b"boom")


def test_real_server_answering_json(server: Start) -> None:
    url = server(reply(200, recorded("buildinfo.json"), Content_Type="application/json"))
    assert PrometheusClient(url).buildinfo()["version"] == "2.42.0+ds"


def test_real_timeout(server: Start) -> None:
    def slow(h: BaseHTTPRequestHandler) -> None:
        time.sleep(1.0)
        reply(200, b"{}")(h)

    url = server(slow)
    started = time.monotonic()
    with pytest.raises(prom.TimedOut, match=r"within 0\.2s"):
        PrometheusClient(url, timeout=0.2).probe("/-/healthy")
    assert time.monotonic() - started < 0.9


def test_real_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(prom.Unreachable, match="connection refused"):
        PrometheusClient(f"http://127.0.0.1:{port}", timeout=1).targets()


def test_real_server_that_does_not_speak_http() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def babble() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"-ERR unknown command\r\n")

        threading.Thread(target=babble, daemon=True).start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(prom.NotPrometheus, match="did not answer in HTTP"):
            PrometheusClient(url, timeout=2).targets()


def test_real_tls_against_plain_http(server: Start) -> None:
    url = server(reply(200, b"{}"))
    with pytest.raises(prom.TLSFailure) as caught:
        PrometheusClient(url.replace("http://", "https://"), timeout=2).targets()
    assert "TLS with https://127.0.0.1" in str(caught.value)
