"""Typed records: one frozen class per kind, one schema from every command to the gate and report.

Every command's result is a record: a frozen dataclass with a schema name and version
(``fcdmbench.<kind>/N``), the environment it ran in (`EnvInfo`) and run metadata (`RunInfo`:
fcdmbench version, git sha and dirty flag, start time, command line). Library entry points return
them complete (`run_flops` -> `FlopsRecord`, `measure_throughput` -> `ThroughputRecord`,
`evaluate` -> `EvalRecord`, `run_sampling` -> `SampleRecord`, `run_spectral` -> `SpectralRecord`,
`run_roofline` -> `RooflineRecord`, `measure_memory` -> `MemoryRecord`);
the CLI only renders and writes them; the report and the regression gate read them only through
these classes.

| kind       | class              | written by                                   |
|------------|--------------------|----------------------------------------------|
| flops      | `FlopsRecord`      | ``fcdmbench flops --json``                   |
| throughput | `ThroughputRecord` | ``fcdmbench throughput``                     |
| baseline   | `BaselineRecord`   | ``fcdmbench baseline update``                |
| eval       | `EvalRecord`       | ``fcdmbench eval`` (version 3)               |
| sample     | `SampleRecord`     | ``fcdmbench sample`` (``<out>.npz.json``)    |
| spectral   | `SpectralRecord`   | ``fcdmbench analyze spectral``               |
| roofline   | `RooflineRecord`   | ``fcdmbench roofline --json`` (a model)      |
| roofline-train | `TrainRooflineRecord` | ``train-roofline --json`` (a model) |
| memory     | `MemoryRecord`     | ``fcdmbench memory --json`` (a model)        |
| audit      | `AuditRecord`      | ``fcdmbench audit --json`` (a model)         |
| report     | `ReportManifest`   | ``fcdmbench report`` (``manifest.json``)     |

A file of an older schema version is refused with "re-run ... with this version": no release
ever wrote one (no tag; version 0.1.0 since the first commit), so nothing is migrated.

Example:
    >>> from fcdmbench.records.io import read_record, write_record
    >>> record = read_record("flops.json", kind="flops")  # doctest: +SKIP
    >>> record.result("fcdm-s").gmacs  # doctest: +SKIP
    3.0839...

This package imports neither torch nor the CLI nor the reporting layer.
"""
