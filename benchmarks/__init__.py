"""Meterhouse benchmarks: `make bench` (`python -m benchmarks.run --out BENCHMARKS.md`).

Modules:
    run          the driver: generate, run the pipeline end to end, an incremental batch, floors, report
    measure      run a subprocess and measure its wall time and peak memory (whole process tree)
    incremental  write a batch of fresh, valid events derived from a generated data set
    floor        DuckDB-only floors: load the landing files into one table, then one scan
    logparse     split a `meterhouse run` log into Dagster steps and dbt node timings
    report       render BENCHMARKS.md
"""
