"""A small client for Prometheus' HTTP API (2.x and 3.x): timeouts, auth, typed errors.

Standard library only. Every call has an explicit timeout; the transport is
injectable so unit tests can answer without a server. The client never judges
a deployment: it returns what Prometheus said, or raises a ``PromkitError``
subclass chosen from what went wrong (unreachable, timeout, TLS, auth, HTTP
error, not the Prometheus API, API error, not ready yet).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promkit.errors import ConfigError, PromkitError

#: The most a single answer may weigh; a targets list of thousands fits easily.
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 5
_HINT_RUNNING = "is it running? (inv status.local)"


class PrometheusError(PromkitError):
    """Prometheus (or whatever answers at the URL) could not be used."""


class Unreachable(PrometheusError):
    """Nothing answers at the URL: connection refused, unknown host, network down."""


class TimedOut(PrometheusError):
    """The server did not answer within the timeout."""


class TLSFailure(PrometheusError):
    """The TLS handshake failed (unknown CA, wrong host name, plain HTTP port)."""


class AuthFailed(PrometheusError):
    """The server answered 401 or 403."""


class HTTPFailure(PrometheusError):
    """The server answered an HTTP error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class NotPrometheus(PrometheusError):
    """The answer is not the Prometheus API (HTML, not JSON, unexpected shape)."""


class NotReady(PrometheusError):
    """Prometheus answered 503: it is still starting (loading its TSDB)."""


class APIError(PrometheusError):
    """The API answered ``status: error`` (e.g. ``bad_data`` for invalid PromQL)."""

    def __init__(self, message: str, error_type: str, error: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.error = error


@dataclass(frozen=True)
class HttpRequest:
    """One request as the transport sees it (a GET, or a body-less POST to /-/reload)."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    timeout: float
    method: str = "GET"


@dataclass(frozen=True)
class HttpResponse:
    """What the transport got back (any status; redirects are not followed)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        """The value of header ``name`` (case-insensitive), empty if absent."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), "")


Transport = Callable[[HttpRequest], HttpResponse]


@dataclass(frozen=True)
class Answer:
    """A page or probe answer: where it ended up, its status, how long it took, its text."""

    path: str
    url: str
    status: int
    elapsed_ms: float
    content_type: str
    text: str


@dataclass(frozen=True)
class Credentials:
    """Basic auth or a bearer token. Never printed: repr hides the secrets."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    source: str = "no credentials were given"

    def header(self) -> dict[str, str]:
        """The Authorization header for these credentials (empty when there are none)."""
        import base64

        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username is not None:
            pair = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def urllib_transport(ca_file: str | None = None) -> Transport:
    """The real transport: urllib, no redirects, TLS verified (against ``ca_file`` if given)."""
    plain = urllib.request.build_opener(_NoRedirect())
    tls: list[urllib.request.OpenerDirector] = []
    lock = threading.Lock()

    def opener_for(url: str) -> urllib.request.OpenerDirector:
        # The TLS context (loading the CA bundle, ~20 ms) is made only once https is used.
        if not url.lower().startswith("https:"):
            return plain
        with lock:
            if not tls:
                context = ssl.create_default_context(cafile=ca_file)
                handler = urllib.request.HTTPSHandler(context=context)
                tls.append(urllib.request.build_opener(_NoRedirect(), handler))
        return tls[0]

    def send(request: HttpRequest) -> HttpResponse:
        body = b"" if request.method == "POST" else None
        req = urllib.request.Request(
            request.url, data=body, headers=dict(request.headers), method=request.method
        )
        try:
            with opener_for(request.url).open(req, timeout=request.timeout) as resp:
                return HttpResponse(resp.status, dict(resp.headers), resp.read(MAX_BODY_BYTES))
        except urllib.error.HTTPError as exc:
            with exc:
                body = exc.read(MAX_BODY_BYTES)
            return HttpResponse(exc.code, dict(exc.headers or {}), body)

    return send


def _describe_os_error(reason: BaseException) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return "unknown host"
    return str(getattr(reason, "strerror", None) or reason)


def _is_timeout(reason: BaseException) -> bool:
    return isinstance(reason, TimeoutError | socket.timeout) or "timed out" in str(reason)


class PrometheusClient:
    """Talks to one Prometheus server at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        credentials: Credentials | None = None,
        transport: Transport | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.base_url = check_url(base_url)
        self.timeout = timeout
        self.credentials = credentials or Credentials()
        self._transport = transport or urllib_transport(ca_file)

    # -- plumbing -------------------------------------------------------------

    def url_for(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """The absolute URL of ``path`` (relative to the base URL, keeping its prefix)."""
        url = self.base_url + "/" + path.lstrip("/")
        return url + ("?" + urllib.parse.urlencode(params) if params else "")

    def _same_origin(self, url: str) -> bool:
        a, b = urllib.parse.urlsplit(self.base_url), urllib.parse.urlsplit(url)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    def _send(self, url: str, method: str = "GET") -> HttpResponse:
        # Credentials go only to the server we were pointed at, never to a redirect elsewhere.
        headers = {"User-Agent": "promkit", "Accept": "application/json, text/html;q=0.9, */*"}
        if self._same_origin(url):
            headers.update(self.credentials.header())
        try:
            return self._transport(HttpRequest(url, headers, self.timeout, method))
        except ssl.SSLError as exc:
            raise self._tls_error(url, exc) from None
        except urllib.error.URLError as exc:
            raise self._connection_error(url, exc.reason) from None
        except (OSError, ValueError) as exc:
            raise self._connection_error(url, exc) from None
        except http.client.HTTPException as exc:
            raise NotPrometheus(
                f"{url} did not answer in HTTP ({type(exc).__name__}): "
                "is --url pointing at Prometheus' web port?"
            ) from None

    def _tls_error(self, url: str, exc: BaseException) -> TLSFailure:
        detail = getattr(exc, "verify_message", None) or getattr(exc, "reason", None) or exc
        return TLSFailure(
            f"TLS with {url} failed: {detail}; set prometheus.ca_file to the CA bundle that "
            "signed its certificate, or use http:// if it does not speak TLS"
        )

    def _connection_error(self, url: str, reason: Any) -> PrometheusError:
        if isinstance(reason, ssl.SSLError):
            return self._tls_error(url, reason)
        if isinstance(reason, BaseException) and _is_timeout(reason):
            return TimedOut(
                f"Prometheus at {self.base_url} did not answer {url} within {self.timeout:g}s: "
                "is it overloaded? raise prometheus.timeout if needed"
            )
        detail = _describe_os_error(reason) if isinstance(reason, BaseException) else str(reason)
        return Unreachable(f"cannot reach Prometheus at {self.base_url}: {detail}; {_HINT_RUNNING}")

    def fetch(self, path: str, params: Mapping[str, str] | None = None) -> Answer:
        """GET ``path`` (or an absolute URL), following redirects, timed; any status is returned.

        Raises only for what is not an answer (unreachable, timeout, TLS) and for
        401/403, which no check can judge.
        """
        url = path if "://" in path else self.url_for(path, params)
        started = time.perf_counter()
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(url)
            location = response.header("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                url = urllib.parse.urljoin(url, location)
                continue
            break
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if response.status in (401, 403):
            raise self._auth_error(response.status)
        text = response.body.decode("utf-8", errors="replace")
        return Answer(path, url, response.status, elapsed_ms, response.header("Content-Type"), text)

    def post(self, path: str) -> Answer:
        """POST with no body to ``path`` (e.g. ``/-/reload``); redirects are not followed.

        Any status is returned but 401, which raises ``AuthFailed`` like ``fetch``.
        """
        url = self.url_for(path)
        started = time.perf_counter()
        response = self._send(url, "POST")
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if response.status == 401:
            raise self._auth_error(response.status)
        text = response.body.decode("utf-8", errors="replace")
        return Answer(path, url, response.status, elapsed_ms, response.header("Content-Type"), text)

    def _auth_error(self, status: int) -> AuthFailed:
        what = "401 Unauthorized" if status == 401 else "403 Forbidden"
        if self.credentials.header():
            problem = f"the credentials ({self.credentials.source}) were rejected"
        else:
            problem = f"credentials are needed: {self.credentials.source}"
        return AuthFailed(f"Prometheus at {self.base_url} answered {what}: {problem}")

    # -- probes and the API ----------------------------------------------------

    def probe(self, path: str) -> Answer:
        """GET a plain endpoint such as ``/-/healthy``; 503 means not ready yet."""
        answer = self.fetch(path)
        if answer.status == 503:
            raise NotReady(
                f"Prometheus at {self.base_url} is not ready yet (503 on {path}): it is "
                "still loading its TSDB; try again shortly or pass --wait SECONDS"
            )
        return answer

    def api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The ``data`` of an ``/api/v1/...`` answer, or a typed error saying what went wrong."""
        answer = self.fetch(path, params)
        envelope = self._decode(answer)
        if envelope is None:
            raise self._http_error(answer)
        if envelope.get("status") == "error":
            error_type = str(envelope.get("errorType", "unknown"))
            error = str(envelope.get("error", "")).strip()
            raise APIError(
                f"Prometheus at {self.base_url} rejected {path}: {error_type}: {error}",
                error_type,
                error,
            )
        if answer.status != 200 or envelope.get("status") != "success" or "data" not in envelope:
            raise self._http_error(answer)
        return envelope["data"]

    def _decode(self, answer: Answer) -> dict[str, Any] | None:
        """The JSON envelope of an API answer, None if the body is not a JSON object."""
        try:
            value = json.loads(answer.text)
        except ValueError:
            return None
        return value if isinstance(value, dict) and "status" in value else None

    def _http_error(self, answer: Answer) -> PrometheusError:
        where = f"Prometheus at {self.base_url}"
        if answer.status == 503:
            return NotReady(
                f"{where} is not ready yet (503 on {answer.path}): it is still loading its "
                "TSDB; try again shortly or pass --wait SECONDS"
            )
        if answer.status >= 400:
            return HTTPFailure(
                f"{where} answered HTTP {answer.status} for {answer.path}"
                f"{_excerpt(answer.text)}{_hint_for(answer.status)}",
                answer.status,
            )
        if _looks_like_html(answer):
            return NotPrometheus(
                f"{answer.url} answered HTML, not the Prometheus API: "
                "is --url pointing at Prometheus?"
            )
        return NotPrometheus(
            f"{answer.url} answered something that is not the Prometheus API "
            f"(HTTP {answer.status}, {answer.content_type or 'no content type'}"
            f"{_excerpt(answer.text)}): is --url pointing at Prometheus?"
        )

    def targets(self) -> Any:
        """``/api/v1/targets``: active and dropped targets (plus 3.x dropped counts)."""
        return self.api("/api/v1/targets")

    def config_yaml(self) -> str:
        """The configuration the server runs, as YAML text (``/api/v1/status/config``)."""
        data = self.api("/api/v1/status/config")
        if not isinstance(data, dict) or not isinstance(data.get("yaml"), str):
            raise NotPrometheus(f"{self.base_url}/api/v1/status/config has no YAML in data.yaml")
        return str(data["yaml"])

    def runtimeinfo(self) -> Any:
        """``/api/v1/status/runtimeinfo`` (storage retention, config reload status)."""
        return self.api("/api/v1/status/runtimeinfo")

    def flags(self) -> Any:
        """``/api/v1/status/flags``: the command-line flags the server runs with."""
        return self.api("/api/v1/status/flags")

    def buildinfo(self) -> Any:
        """``/api/v1/status/buildinfo`` (version, revision, Go version)."""
        return self.api("/api/v1/status/buildinfo")

    def tsdb_status(self) -> Any:
        """``/api/v1/status/tsdb``: head block statistics (series, oldest and newest sample)."""
        return self.api("/api/v1/status/tsdb")

    def query(self, promql: str) -> Any:
        """Run an instant query; invalid PromQL raises ``APIError`` with ``bad_data``."""
        return self.api("/api/v1/query", {"query": promql})


def _looks_like_html(answer: Answer) -> bool:
    head = answer.text.lstrip()[:200].lower()
    return "html" in answer.content_type.lower() or head.startswith(("<!doctype", "<html"))


def _excerpt(text: str) -> str:
    line = " ".join(text.split())[:120]
    return f": {line}" if line else ""


def _hint_for(status: int) -> str:
    if status == 404:
        return " (is --url pointing at Prometheus, including any --web.route-prefix?)"
    if status >= 500:
        return " (a server error: check Prometheus' logs, or the proxy in front of it)"
    return ""


def check_url(url: str) -> str:
    """``url`` without a trailing slash, or a ConfigError if it is not an http(s) URL."""
    parts = urllib.parse.urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"prometheus.url {url!r} is not an http(s) URL: pass e.g. --url http://127.0.0.1:9090"
        )
    if parts.username or parts.password:
        raise ConfigError(
            "prometheus.url must not contain credentials: set PROMKIT_PROMETHEUS_USERNAME "
            "and PROMKIT_PROMETHEUS_PASSWORD (or their *_file settings) instead"
        )
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _read_secret(path: str, key: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"setting '{key}': cannot read {path}: {exc.strerror}") from None


def _env_or_file(
    env_name: str, path: Any, file_key: str, environ: Mapping[str, str]
) -> tuple[str | None, str]:
    """A secret from the environment variable ``env_name``, else from the file at ``path``."""
    if environ.get(env_name):
        return environ[env_name], f"${env_name}"
    if path:
        return _read_secret(str(path), f"prometheus.{file_key}"), f"prometheus.{file_key}"
    return None, ""


def credentials_from_settings(
    settings: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Credentials:
    """Credentials named by the ``prometheus`` settings: env vars or files, never the settings."""
    environ = os.environ if environ is None else environ
    user_var = str(settings.get("username_env") or "PROMKIT_PROMETHEUS_USERNAME")
    pass_var = str(settings.get("password_env") or "PROMKIT_PROMETHEUS_PASSWORD")
    token_var = str(settings.get("token_env") or "PROMKIT_PROMETHEUS_TOKEN")
    username = environ.get(user_var) or None
    password, password_from = _env_or_file(
        pass_var, settings.get("password_file"), "password_file", environ
    )
    token, token_from = _env_or_file(token_var, settings.get("token_file"), "token_file", environ)
    if token and username:
        raise ConfigError(
            f"both basic auth (${user_var}) and a bearer token ({token_from}) are set: keep one"
        )
    if token:
        return Credentials(token=token, source=f"bearer token from {token_from}")
    if username is not None:
        if password is None:
            raise ConfigError(
                f"${user_var} is set but no password: set ${pass_var} or prometheus.password_file"
            )
        return Credentials(username, password, source=f"${user_var} with {password_from}")
    if password is not None:
        raise ConfigError(f"a password is set ({password_from}) but no user name: set ${user_var}")
    return Credentials(
        source=f"set ${user_var} and ${pass_var} for basic auth, or ${token_var} for a token"
    )


def client_from_settings(
    settings: Mapping[str, Any],
    url: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    transport: Transport | None = None,
) -> PrometheusClient:
    """A client for ``url`` (default ``prometheus.url``) with the timeout, auth and CA settings."""
    from promkit.settings import as_float

    timeout = as_float(settings.get("timeout"), "prometheus.timeout")
    if timeout <= 0:
        raise ConfigError("setting 'prometheus.timeout' must be more than 0 seconds")
    ca_file = settings.get("ca_file")
    if ca_file and not Path(str(ca_file)).expanduser().is_file():
        raise ConfigError(f"setting 'prometheus.ca_file': {ca_file} is not a file")
    return PrometheusClient(
        str(url or settings.get("url") or ""),
        timeout=timeout,
        credentials=credentials_from_settings(settings, environ),
        transport=transport,
        ca_file=str(Path(str(ca_file)).expanduser()) if ca_file else None,
    )
