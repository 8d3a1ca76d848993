"""packyard: a private Python package index, compatible with pypiserver."""

__version__ = "0.1.0"
