"""Streaming side of the platform: the Faust app and agents (glue), and the pure supervision rules."""
