"""Benchmarks of fedbuild against plain doit, make and ninja (see bench/README.md)."""
