"""The web container's health check: GET /api/v1/health/ on gunicorn directly; exit 0 only on 200.

Standard library only, so a check every 30 s costs milliseconds, not a Django start-up. It sends the
Host and X-Forwarded-Proto the proxy would, so ALLOWED_HOSTS and the HTTPS redirect both apply."""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    host = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",")[0].strip().lstrip(".") or "localhost"
    port = os.environ.get("NAEVUS_PORT") or "8000"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/health/",
        headers={"Host": host, "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 — a fixed local URL
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        print(f"health check: {type(exc).__name__}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"health check: HTTP {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
