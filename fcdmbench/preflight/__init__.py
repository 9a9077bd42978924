"""Preflight: what a command checks before any heavy work, with every problem reported at once.

A command collects problems in a `Preflight`: each check either returns what it found or raises
an `FcdmbenchError`, which is recorded, and the next check runs. `Preflight.raise_all` then does
nothing (no problem), raises the one problem as itself, or raises one `PreflightError` listing
every problem with its own hint. Its exit code is the lowest of theirs (2 usage/config before 3
input files before 4 devices), so a script sees the most basic fault. A user who lacks three
reference files learns of all three in one run.

Preflights create nothing, hash nothing and import neither TensorFlow nor torch (torch only to
ask whether CUDA exists, and only when a command asks for CUDA): `fcdmbench sample --ckpt
missing.pt` fails in a fraction of a second. Output paths are checked with
`fcdmbench.files.check_output`, the rule every writer applies (README "Outputs").

`preflight.checks` holds the collector and the checks shared by commands, `preflight.evaluation`
`preflight_eval`, `preflight.commands` the preflights of sample, throughput, baseline update,
report and analyze spectral; import each from its module; this `__init__` re-exports nothing.

Example:
    pf = Preflight()
    info = pf.check(inspect_images, "samples.npz")
    pf.check(check_output, "samples.eval.json")
    pf.raise_all()
"""
