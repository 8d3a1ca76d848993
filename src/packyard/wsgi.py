"""The WSGI application for other WSGI servers, for running several processes:

    PYPISERVER_PACKAGES_DIR=/data/packages gunicorn -w 4 -b 0.0.0.0:8080 'packyard.wsgi:create()'

The configuration comes from the same ``PYPISERVER_*`` environment variables as
``pypi-server run`` (docs/configuration.md); ``create(["-P", "htpasswd", ...])``
also takes the command-line options. Each worker process scans the directories,
watches them, and before every request takes in what the other workers changed (files
uploaded or removed, yanks), through the ledger they share; so a file uploaded
through one worker is listed by every worker on the next request.

Start the workers without ``--preload``: each must start its own file watcher.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from packyard import __version__, cli
from packyard.errors import ConfigError

# Exit status of a worker whose application cannot be built. gunicorn stops on it
# ("App failed to load") instead of starting the worker again and again.
LOAD_ERROR = 4


def create(argv: Sequence[str] | None = None) -> Any:
    """Build the application in this process; a bad setting is one line on stderr and
    exit status LOAD_ERROR."""
    try:
        config, _legacy = cli.parse_config(list(argv or ()), dict(os.environ))
        welcome, notes = cli.check_environment(config)
        cli.setup_logging(config)
    except (cli.UsageError, ConfigError) as exc:
        print(f"{cli.PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(LOAD_ERROR) from None

    import logging

    from packyard import server

    for note in notes:
        logging.getLogger(__name__).warning("%s", note)
    try:
        app, services, _watcher = server.build(config, welcome)
    except ConfigError as exc:
        print(f"{cli.PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(LOAD_ERROR) from None
    server.banner.info(
        "packyard %s worker %d serving %d files of %d projects from %s",
        __version__,
        os.getpid(),
        len(services.cache.snapshot.files),
        len(services.cache.snapshot.project_names),
        ", ".join(str(r) for r in config.roots),
    )
    return app
