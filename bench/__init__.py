"""Benchmarks: the harness (``make bench``) and its parts."""
