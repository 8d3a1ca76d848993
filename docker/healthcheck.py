#!/opt/packyard/bin/python
"""The image's HEALTHCHECK: GET the health endpoint of the server in this container.

Exit 0 when it answers 2xx, 1 otherwise. The port and the path come from the same
environment variables the server reads (PYPISERVER_PORT, or PORT when that is empty,
and PYPISERVER_HEALTH_ENDPOINT).
Proxy variables are ignored: the request goes to this container's loopback.
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("PYPISERVER_PORT") or os.environ.get("PORT") or "8080"
    path = os.environ.get("PYPISERVER_HEALTH_ENDPOINT") or "/health"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    error: Exception | None = None
    # IPv4 first; [::1] for a server started with --host ::.
    for host in ("127.0.0.1", "[::1]"):
        try:
            with opener.open(f"http://{host}:{port}{path}", timeout=4) as response:
                if 200 <= response.status < 300:
                    return 0
                error = RuntimeError(f"HTTP {response.status}")
        except (urllib.error.URLError, OSError) as exc:
            error = exc
    print(f"health check on port {port}{path} failed: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
