"""Benchmarks: scripts that print figures as ratios against a baseline run in the same process.

Run from the repository root, e.g. `.venv/bin/python -m benchmarks.replicas`."""
