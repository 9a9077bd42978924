"""Throughput: what one timed call runs (`workloads`), the timing protocol (`protocol`,
`measure`), the record of a run (`record_builder`), the regression gate (`gate`), per-device
baseline files (`baseline_files`) and the `fcdmbench throughput` job (`run`).

Import from the modules; this `__init__` re-exports nothing.
"""
