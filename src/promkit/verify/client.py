"""A small client for Prometheus' HTTP API (2.x and 3.x): timeouts, auth, typed errors.

HTTP goes through one ``requests.Session`` per client. Every call has an
explicit timeout, every answer is read up to a size limit, and credentials go
only to the server the client was pointed at. The client never judges a
deployment: it returns what Prometheus said, or raises a ``PromkitError``
subclass chosen from what went wrong (unreachable, timeout, TLS, auth, HTTP
error, too large, not the Prometheus API, API error, not ready yet).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import urllib3.exceptions

from promkit.core import settings
from promkit.core.errors import ConfigError, PromkitError
from promkit.core.settings import PrometheusSettings
from promkit.verify.result import Answer

#: The most a single answer may weigh; a targets list of thousands fits easily.
MAX_BODY_BYTES = 64 * 1024 * 1024


MAX_REDIRECTS = 5


_CHUNK_BYTES = 64 * 1024


_HINT_RUNNING = "is it running? (inv status.local)"


_HEADERS = {
    "User-Agent": "promkit",
    "Accept": "application/json, text/html;q=0.9, */*",
    # As before requests: answers come uncompressed, so the body limit counts what
    # Prometheus sent, and a large targets answer costs it no gzip time on loopback.
    "Accept-Encoding": "identity",
}


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


class TooLarge(PrometheusError):
    """The answer was longer than the client's body limit; reading stopped there."""


class NotReady(PrometheusError):
    """Prometheus answered 503: it is still starting (loading its TSDB)."""


class APIError(PrometheusError):
    """The API answered ``status: error`` (e.g. ``bad_data`` for invalid PromQL)."""

    def __init__(self, message: str, error_type: str, error: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.error = error


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


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class _HomeAuth(requests.auth.AuthBase):
    """Adds the Authorization header to requests for the client's own origin only.

    A redirect elsewhere loses it too: ``Session.rebuild_auth`` strips the header
    when host, port or scheme change, and auth is not applied again after that.
    Being set, it also keeps requests from reading ~/.netrc for the first request.
    """

    def __init__(self, base_url: str, credentials: Credentials) -> None:
        self._origin = _origin(base_url)
        self._header = credentials.header()
        try:
            # requests checks the headers it is given, but not those auth adds later.
            for item in self._header.items():
                requests.utils.check_header_validity(item)
        except requests.exceptions.InvalidHeader:
            raise ConfigError(
                f"the credentials ({credentials.source}) cannot be sent in an HTTP "
                "header: remove line breaks and control characters from them"
            ) from None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if _origin(str(request.url)) == self._origin:
            request.headers.update(self._header)
        return request


def _session(base_url: str, credentials: Credentials, ca_file: str | None) -> requests.Session:
    """The client's session: its headers, its credentials for home only, its CA bundle."""
    session = requests.Session()
    session.headers.update(_HEADERS)
    session.auth = _HomeAuth(base_url, credentials)
    session.max_redirects = MAX_REDIRECTS
    if ca_file:
        session.verify = ca_file
    return session


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps: requests and urllib3 nest the OS error deeply."""
    todo, seen = [exc], set()
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [e for e in [*inner, *current.args] if isinstance(e, BaseException)]


def _first(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    return next((e for e in _causes(exc) if isinstance(e, kind)), None)


def _is_timeout(exc: BaseException) -> bool:
    """Whether a requests failure was the timeout running out (connecting or reading)."""
    kinds = (requests.Timeout, TimeoutError, socket.timeout, urllib3.exceptions.TimeoutError)
    return any(isinstance(e, kinds) and not _is_refusal(e) for e in _causes(exc))


def _is_refusal(exc: BaseException) -> bool:
    # urllib3 makes NewConnectionError a ConnectTimeoutError, even for a refused connection.
    return isinstance(exc, urllib3.exceptions.NewConnectionError)


def _tls_detail(exc: BaseException) -> str | None:
    """What went wrong in TLS (``certificate verify failed: ...``), None if TLS was not it."""
    failure = _first(exc, ssl.SSLError)
    if failure is None:
        return None
    verify = getattr(failure, "verify_message", None)
    return str(verify or getattr(failure, "reason", None) or failure)


def reason(exc: BaseException) -> str:
    """A few words for why a request got no answer: ``connection refused``, ``timed out``..."""
    tls = _tls_detail(exc)
    if tls is not None:
        return f"TLS failed: {tls}"
    if _is_timeout(exc):
        return "timed out"
    if _first(exc, ConnectionRefusedError):
        return "connection refused"
    if _first(exc, socket.gaierror):
        return "unknown host"
    # requests' and urllib3's wrappers repeat the URL at length; the OS's words are short.
    causes = list(_causes(exc))
    os_error = next((e for e in causes if isinstance(e, OSError) and e.strerror), None)
    innermost = causes[-1]
    return str(os_error.strerror if os_error else innermost) or type(innermost).__name__


class PrometheusClient:
    """Talks to one Prometheus server at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        credentials: Credentials | None = None,
        ca_file: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.base_url = check_url(base_url)
        self.timeout = timeout
        self.credentials = credentials or Credentials()
        self.max_body_bytes = max_body_bytes
        self._session = _session(self.base_url, self.credentials, ca_file)

    def close(self) -> None:
        """Close the pooled connections (the client opens new ones if used again)."""
        self._session.close()

    # -- plumbing -------------------------------------------------------------

    def url_for(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """The absolute URL of ``path`` (relative to the base URL, keeping its prefix)."""
        url = self.base_url + "/" + path.lstrip("/")
        return url + ("?" + urllib.parse.urlencode(params) if params else "")

    def _exchange(self, path: str, url: str, method: str) -> Answer:
        """One request (GET follows redirects, POST does not), its body read within the limit."""
        started = time.perf_counter()
        try:
            response = self._request(url, method)
            with response:
                body = self._read_body(response)
        except requests.RequestException as exc:
            raise self._failure(url, exc) from None
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        content_type = response.headers.get("Content-Type", "")
        text = body.decode("utf-8", errors="replace")
        return Answer(path, response.url, response.status_code, elapsed_ms, content_type, text)

    def _request(self, url: str, method: str) -> requests.Response:
        try:
            return self._session.request(
                method,
                url,
                timeout=self.timeout,
                # Again per call: $REQUESTS_CA_BUNDLE would win over the session's verify.
                verify=self._session.verify,
                stream=True,
                allow_redirects=method == "GET",
            )
        except requests.TooManyRedirects as exc:
            # As before requests: a redirect loop ends in its last answer, for checks to judge.
            if exc.response is None:
                raise
            return exc.response

    def _read_body(self, response: requests.Response) -> bytes:
        """The body, or TooLarge as soon as it is known to pass ``max_body_bytes``."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_large(response.url)
        body = bytearray()
        for chunk in response.iter_content(_CHUNK_BYTES):
            body += chunk
            if len(body) > self.max_body_bytes:
                raise self._too_large(response.url)
        return bytes(body)

    def _too_large(self, url: str) -> TooLarge:
        return TooLarge(
            f"{url} answered more than {self.max_body_bytes} bytes, the most promkit reads of "
            "one answer, so it stopped reading: is --url pointing at Prometheus' web port?"
        )

    def _failure(self, url: str, exc: requests.RequestException) -> PrometheusError:
        """The typed error for a request that got no usable answer."""
        tls = _tls_detail(exc)
        if tls is not None:
            return TLSFailure(
                f"TLS with {url} failed: {tls}; set prometheus.ca_file to the CA bundle that "
                "signed its certificate, or use http:// if it does not speak TLS"
            )
        if _is_timeout(exc):
            return TimedOut(
                f"Prometheus at {self.base_url} did not answer {url} within {self.timeout:g}s: "
                "is it overloaded? raise prometheus.timeout if needed"
            )
        garbled = _first(exc, http.client.HTTPException)
        if garbled is not None and not isinstance(garbled, OSError):
            return NotPrometheus(
                f"{url} did not answer in HTTP ({type(garbled).__name__}): "
                "is --url pointing at Prometheus' web port?"
            )
        return Unreachable(
            f"cannot reach Prometheus at {self.base_url}: {reason(exc)}; {_HINT_RUNNING}"
        )

    def fetch(self, path: str, params: Mapping[str, str] | None = None) -> Answer:
        """GET ``path`` (or an absolute URL), following redirects, timed; any status is returned.

        Raises only for what is not an answer (unreachable, timeout, TLS, too large)
        and for 401/403, which no check can judge.
        """
        url = path if "://" in path else self.url_for(path, params)
        answer = self._exchange(path, url, "GET")
        if answer.status in (401, 403):
            raise self._auth_error(answer.status)
        return answer

    def post(self, path: str) -> Answer:
        """POST with no body to ``path`` (e.g. ``/-/reload``); redirects are not followed.

        Any status is returned but 401, which raises ``AuthFailed`` like ``fetch``.
        """
        answer = self._exchange(path, self.url_for(path), "POST")
        if answer.status == 401:
            raise self._auth_error(answer.status)
        return answer

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

    def rules(self) -> Any:
        """The data of /api/v1/rules: every rule group the server loaded, with health and last evaluation."""  # noqa: E501
        return self.api("/api/v1/rules")

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
    return settings.check_url(url, "prometheus.url", "pass e.g. --url http://127.0.0.1:9090")


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
    settings: PrometheusSettings, environ: Mapping[str, str] | None = None
) -> Credentials:
    """Credentials named by the ``prometheus`` settings: env vars or files, never the settings."""
    environ = os.environ if environ is None else environ
    user_var, pass_var, token_var = settings.username_env, settings.password_env, settings.token_env
    username = environ.get(user_var) or None
    password, password_from = _env_or_file(
        pass_var, settings.password_file, "password_file", environ
    )
    token, token_from = _env_or_file(token_var, settings.token_file, "token_file", environ)
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
    settings: PrometheusSettings,
    url: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> PrometheusClient:
    """A client for ``url`` (default ``prometheus.url``) with the timeout, auth and CA settings."""
    return PrometheusClient(
        url or settings.url,
        timeout=settings.timeout,
        credentials=credentials_from_settings(settings, environ),
        ca_file=settings.ca_file,
    )
