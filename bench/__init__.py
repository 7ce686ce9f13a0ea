"""Benchmarks of this provider against the official OSS SDKs (``python -m bench``; see RESULTS.md)."""
