"""Benchmarks: throughput and accuracy scripts that write JSON (and PNG) results."""
