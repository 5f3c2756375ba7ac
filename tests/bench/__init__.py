"""Tests of the benchmark harness's parts that need no resolver running."""
