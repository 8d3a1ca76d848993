"""The "ceiling" server: a bare WSGI app on waitress that answers each URL with
bytes fetched beforehand (from packyard), doing no work per request but a dict
lookup. It shows what waitress itself costs on this machine.

    python benchmarks/bare.py --port PORT --threads 4 RESPONSES.pickle

RESPONSES.pickle holds a dict ``{path: [(accept_needle, status, headers, body), ...]}``
written by run.py: for a request the first entry whose ``accept_needle`` occurs in
its Accept header (``""`` always does) is answered.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable, Iterable
from typing import Any

import waitress

Variant = tuple[str, str, list[tuple[str, str]], bytes]

NOT_FOUND: Variant = ("", "404 Not Found", [("Content-Type", "text/plain")], b"not found\n")


def make_app(table: dict[str, list[Variant]]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        variants = table.get(environ["PATH_INFO"])
        chosen = NOT_FOUND
        if variants:
            accept = environ.get("HTTP_ACCEPT", "")
            for variant in variants:
                if variant[0] in accept:
                    chosen = variant
                    break
        start_response(chosen[1], chosen[2])
        return [chosen[3]]

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bare waitress ceiling server")
    parser.add_argument("responses")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    with open(args.responses, "rb") as fh:
        table: dict[str, list[Variant]] = pickle.load(fh)
    print(f"bare: {len(table)} paths on port {args.port}", file=sys.stderr, flush=True)
    waitress.serve(make_app(table), host=args.host, port=args.port, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
