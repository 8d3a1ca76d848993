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

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from packyard import __version__
from packyard.commands.common import PROG, UsageError
from packyard.commands.run import parse_config
from packyard.errors import ConfigError

# Exit status of a worker whose application cannot be built. gunicorn stops on it
# ("App failed to load") instead of starting the worker again and again.
LOAD_ERROR = 4


def create(argv: Sequence[str] | None = None) -> Any:
    """Build the application in this process; a bad setting is one line on stderr and
    exit status LOAD_ERROR."""
    from packyard import services  # imported late: the app is not needed to parse

    try:
        config, _legacy = parse_config(list(argv or ()), dict(os.environ))
        welcome = services.prepare(config)
        app, built, _watcher = services.build(config, welcome)
    except (UsageError, ConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(LOAD_ERROR) from None
    logging.getLogger(services.STARTUP_LOG).info(
        "packyard %s worker %d serving %d files of %d projects from %s",
        __version__,
        os.getpid(),
        len(built.cache.snapshot.files),
        len(built.cache.snapshot.project_names),
        ", ".join(str(r) for r in config.roots),
    )
    return app
