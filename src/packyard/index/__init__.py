"""The pure model of an index: names, filenames, snapshots and rendering.

Only the standard library and ``packaging`` are imported below this package.
"""
