"""The commands of ``pypi-server``: one module per command, each with ``main(argv) -> int``.

``packyard.cli`` dispatches to them; they share ``common`` (the program name, the parser
that raises instead of exiting, the one-line error, the exit codes) and build what they
need through the composition root, ``packyard.services``. Importing this package
imports none of the commands.
"""
