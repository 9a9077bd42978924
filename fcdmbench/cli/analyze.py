"""`fcdmbench analyze spectral`: the seed paper's Figure 7 for any registered models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fcdmbench.cli.output import print_json, stderr, stdout

analyze_app = typer.Typer(no_args_is_help=True, help="Analyses of trained models.")


def register(app: typer.Typer) -> None:
    app.add_typer(analyze_app, name="analyze")


CkptOption = Annotated[
    list[Path] | None,
    typer.Option("--ckpt", metavar="PT", help="Checkpoint per model, same order."),
]
SmokeOption = Annotated[bool, typer.Option("--smoke", help="Random weights (tests; stamped).")]
ImagesOption = Annotated[
    Path | None,
    typer.Option(
        "--images", metavar="NPZ", help="Validation images, uint8 NHWC arr_0 (+ arr_1 labels)."
    ),
]
SyntheticOption = Annotated[
    bool, typer.Option("--synthetic", help="N(0,1) latents instead of images (stamped).")
]
VaeOption = Annotated[
    str | None,
    typer.Option(metavar="DIR|ema|mse", envvar="FCDMBENCH_VAE", help="VAE to encode --images."),
]
SetItemsOption = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", help="Config override for every model."),
]
OutOption = Annotated[
    Path,
    typer.Option("--out", "-o", metavar="PREFIX", help="Writes PREFIX.csv, .png, .svg, .json."),
]


@analyze_app.command("spectral")
def spectral_command(
    models: Annotated[list[str], typer.Argument(help="One or more models, one curve each.")],
    ckpt: CkptOption = None,
    smoke: SmokeOption = False,
    images: ImagesOption = None,
    synthetic: SyntheticOption = False,
    vae: VaeOption = None,
    num: Annotated[int, typer.Option(min=1, help="Samples averaged (paper: 128).")] = 128,
    every: Annotated[int, typer.Option(min=1, help="Timestep stride (1 = all 1000).")] = 1,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    seed: Annotated[int, typer.Option()] = 0,
    resolution: Annotated[int, typer.Option(help="Image resolution (paper: 512).")] = 256,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    set_items: SetItemsOption = None,
    out: OutOption = Path("spectral_energy"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Spectral energy of the predicted noise per timestep (Fig. 7).

    The seed paper's Appendix F, Figure 7: one curve per model over the diffusion timesteps.

    Example: fcdmbench analyze spectral fcdm-xl dit-xl-2 --ckpt fcdm.pt --ckpt dit.pt
    --images val512.npz --vae ./sd-vae-ft-ema --resolution 512 --out fig7
    """
    options = dict(locals())  # the options by name, as edm2's commands keep them
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from fcdmbench.sampling.spectral import run_spectral

    config = _preflight(options)
    columns = (TextColumn("spectral energy"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task("spectral", total=None)
        record = run_spectral(config, lambda d, t: progress.update(task, completed=d, total=t))
    if as_json:
        print_json({k: v for k, v in record.to_json().items() if k != "curves"})
        return
    for name in record.models:
        curve = record.curves[name].mean
        stdout.print(
            f"{name}: spectral energy {min(curve):.1f} .. {max(curve):.1f} over "
            f"{len(curve)} timesteps ({record.weights[name]})"
        )
    stdout.print("wrote " + ", ".join(record.files.values()))
    if record.smoke or str(record.source.get("kind", "")).startswith("synthetic"):
        stdout.print(
            "[bold yellow]smoke/synthetic run: not the paper's setting (marked on the figure)[/]"
        )


def _preflight(options: dict):
    """The `SpectralConfig`, once the settings and every file and output are checked, all at
    once, before any model is built."""
    from fcdmbench.cli.options import config_fields
    from fcdmbench.preflight import Preflight
    from fcdmbench.sampling.options import parse_set_options
    from fcdmbench.sampling.preflight import preflight_spectral
    from fcdmbench.sampling.spectral import SpectralConfig

    o, pf = options, Preflight()
    overrides = pf.check(parse_set_options, o["models"][0], o["set_items"])
    config = None
    if overrides is not None:
        given = config_fields(SpectralConfig, o)
        given |= {"models": tuple(o["models"]), "checkpoints": tuple(o["ckpt"] or ())}
        config = pf.check(SpectralConfig, **given, overrides=overrides)
    pf.check(preflight_spectral, models=o["models"], ckpts=o["ckpt"] or (), images=o["images"],
             vae=o["vae"], device=o["device"], out=o["out"])  # fmt: skip
    pf.raise_all()
    return config
