"""In-process benchmarks (`make bench` → `python -m bench`). Each area adds a module with a
`run(argv) -> None` and registers it in `bench.__main__.BENCHMARKS`."""
