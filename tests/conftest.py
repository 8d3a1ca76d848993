"""Loads the test helpers' fixtures and hooks; nothing here is meant to be imported."""

pytest_plugins = ["helpers.plugin"]
