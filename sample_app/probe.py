"""Container healthcheck without curl: ``python -m sample_app.probe URL``.

Exits 0 iff GET URL answers 200 within 2 seconds, else 1 with one line on stderr
(2 for a usage error).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

TIMEOUT_S = 2.0


def probe(url: str, timeout: float = TIMEOUT_S) -> str | None:
    """None when GET ``url`` answers 200 within ``timeout``, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        code = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{url}: {getattr(exc, 'reason', exc)}"
    return None if code == 200 else f"{url}: HTTP {code}, expected 200"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].startswith(("http://", "https://")):
        print("usage: python -m sample_app.probe http://HOST:PORT/PATH", file=sys.stderr)
        return 2
    problem = probe(argv[0])
    if problem:
        print(f"probe failed: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
