"""FLOP counting: one counter and one convention (`counter`), the `fcdmbench flops` job (`run`).

Import from the modules; this `__init__` re-exports nothing, so importing one module loads only
what that module needs.
"""
