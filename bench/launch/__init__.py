"""Benchmark: starting a stand-in daemon on N pods, by six methods (see bench.launch.__main__)."""
