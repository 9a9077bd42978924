"""The performance model: meta-device op traces (`op_trace`, `trace_cache`, `autocast`), the
kernels a fused region runs (`kernels`), the inference and training-step rooflines
(`roofline`, `train_roofline`), memory per GPU (`memory`) and the audit of published speed
figures (`audit`, `audit_readings`).

Import from the modules; this `__init__` re-exports nothing.
"""
