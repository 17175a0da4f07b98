"""Benchmarks run only when asked for (`make bench`); they print figures instead of asserting times."""
