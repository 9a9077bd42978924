"""The seed paper's tables as data: every printed cell of FCDM Tables 1-11, plus a few rows from
the baselines' own repositories.

Seed paper: "All Convolution, No Attention: Designing Diffusion with Convolutions" (FCDM, arXiv
2603.09408), transcribed from its text (tables 1-5 in the main body, 6-11 in the appendix). Rows
the seed paper copied from other papers (its Tables 2 and 3 say "Reported values follow the
respective papers") keep the seed paper as their `source`. A "-" in the paper is None here.

Conventions:
    * ``model`` is the registry name (``fcdm-xl``, ``dit-xl-2``, ``dic-h``, ``dico-xl``) when
      fcdmbench implements or plans the model, else the paper's display name (``ADM-U``,
      ``SiT-XL/2``). Ablation configurations that are not registered models get a descriptive
      display-style name (``FCDM-L 5x5 DWConv``); the unablated default rows use the registry name.
    * The paper's "FLOPs (G)" column counts multiply-accumulates (DiT convention): it is stored
      as ``gmacs``. GFLOPs = 2 x GMACs.
    * ``setting`` makes (model, table, resolution, setting) unique and says what the row measured
      ("w/o cfg; 400K iters", "flow matching; 150K steps", "ablation: kernel size").
    * Table-specific columns live in ``extra``: ``blocks_l``, ``hidden_channels``,
      ``flops_ratio_to_dit_pct`` (Table 1), ``depths`` (Tables 10, 11), ``group`` (Table 3).
"""

from __future__ import annotations

from fcdmbench.published import PublishedResult as R

__all__ = ["ROWS", "rows_for_model"]

_K = 1_000
_M = 1_000_000

# --- Table 1: scales (256 px). Ratio column: FLOPs(FCDM) / FLOPs(DiT), in percent. -----------
_TABLE1 = tuple(
    R(
        model,
        "fcdm:Table 1",
        "table1",
        256,
        params_m=params_m,
        gmacs=gmacs,
        label=label,
        extra=(("blocks_l", blocks), ("hidden_channels", width), ("flops_ratio_to_dit_pct", ratio)),
    )
    for model, label, blocks, width, params_m, gmacs, ratio in (
        ("fcdm-s", "FCDM-S", 2, 128, 32.7, 3.1, 50.8),
        ("fcdm-b", "FCDM-B", 2, 256, 127.7, 12.2, 53.0),
        ("fcdm-l", "FCDM-L", 2, 512, 504.5, 48.3, 59.9),
        ("fcdm-xl", "FCDM-XL", 3, 512, 698.8, 64.6, 54.5),
    )
)


def _steps_text(steps: int) -> str:
    """400_000 -> '400K', 7_000_000 -> '7M', 1_200_000 -> '1.2M'."""
    if steps % _M == 0:
        return f"{steps // _M}M"
    if steps >= _M:
        return f"{steps / _M:g}M"
    return f"{steps // _K}K"


# --- Table 2: scalability at 256 px, 50K samples without guidance. -----------------------------
def _table2_row(model, label, steps, gmacs, tp, fid, is_, prec, rec) -> R:
    return R(
        model,
        "fcdm:Table 2",
        "table2",
        256,
        gmacs=gmacs,
        throughput_it_s=tp,
        training_steps=steps,
        fid=fid,
        inception_score=is_,
        precision=prec,
        recall=rec,
        cfg_scale=1.0,
        label=label,
        setting=f"w/o cfg; {_steps_text(steps)} iters",
    )


_TABLE2 = tuple(
    _table2_row(*row)
    for row in (
        ("dit-s-2", "DiT-S/2", 400 * _K, 6.1, 1234.0, 68.40, None, None, None),
        ("dic-s", "DiC-S", 400 * _K, 5.9, 3148.8, 58.68, 25.82, None, None),
        ("dig-s-2", "DiG-S/2", 400 * _K, 4.3, 961.2, 62.06, 22.81, 0.39, 0.56),
        ("dico-s", "DiCo-S", 400 * _K, 4.3, 1695.7, 49.97, 31.38, 0.48, 0.58),
        ("fcdm-s", "FCDM-S", 400 * _K, 3.1, 2687.2, 48.52, 31.64, 0.48, 0.58),
        ("dit-b-2", "DiT-B/2", 400 * _K, 23.0, 380.1, 43.47, None, None, None),
        ("dic-b", "DiC-B", 400 * _K, 23.5, 1024.2, 32.33, 48.72, None, None),
        ("dig-b-2", "DiG-B/2", 400 * _K, 17.1, 345.9, 39.50, 37.21, 0.51, 0.63),
        ("dico-b", "DiCo-B", 400 * _K, 16.9, 823.0, 27.20, 56.52, 0.60, 0.61),
        ("fcdm-b", "FCDM-B", 400 * _K, 12.2, 1001.6, 26.21, 58.04, 0.59, 0.61),
        ("dit-l-2", "DiT-L/2", 400 * _K, 80.7, 114.6, 23.33, None, None, None),
        ("dig-l-2", "DiG-L/2", 400 * _K, 61.7, 109.0, 22.90, 59.87, 0.60, 0.64),
        ("dico-l", "DiCo-L", 400 * _K, 60.2, 288.3, 13.66, 91.37, 0.69, 0.61),
        ("fcdm-l", "FCDM-L", 400 * _K, 48.3, 381.3, 13.83, 93.31, 0.66, 0.62),
        ("dit-xl-2", "DiT-XL/2", 400 * _K, 118.6, 76.9, 19.47, None, None, None),
        ("dic-xl", "DiC-XL", 400 * _K, 116.1, 263.1, 13.11, 100.2, None, None),
        ("dig-xl-2", "DiG-XL/2", 400 * _K, 89.4, 71.7, 18.53, 68.53, 0.63, 0.64),
        ("dico-xl", "DiCo-XL", 400 * _K, 87.3, 208.5, 11.67, 100.4, 0.71, 0.61),
        ("dic-h", "DiC-H", 400 * _K, 204.4, 144.5, 11.36, 106.5, None, None),
        ("fcdm-xl", "FCDM-XL", 400 * _K, 64.6, 272.7, 10.72, 108.0, 0.69, 0.63),
        ("dit-xl-2", "DiT-XL/2", 7 * _M, 118.6, 76.9, 9.62, None, None, None),
        ("dic-h", "DiC-H", 800 * _K, 204.4, 144.5, 8.96, 124.33, None, None),
        ("dig-xl-2", "DiG-XL/2", 1_200 * _K, 89.4, 71.7, 8.60, 130.03, 0.68, 0.68),
        ("fcdm-xl", "FCDM-XL", 1 * _M, 64.6, 272.7, 7.91, 135.55, 0.71, 0.64),
    )
)

# --- Table 3: benchmark at 256 px with guidance (scale not printed). Epochs, not steps. --------
# (model, label, group, epochs, GMACs, it/s, FID, IS, precision, recall)
_TABLE3 = tuple(
    R(
        model,
        "fcdm:Table 3",
        "table3",
        256,
        gmacs=gmacs,
        throughput_it_s=tp,
        epochs=epochs,
        fid=fid,
        inception_score=is_,
        precision=prec,
        recall=rec,
        label=label,
        setting=group if group == "GAN" else f"{group}; with guidance",
        extra=(("group", group),),
    )
    for model, label, group, epochs, gmacs, tp, fid, is_, prec, rec in (
        ("BigGAN-deep", "BigGAN-deep", "GAN", None, None, None, 6.95, 171.4, 0.87, 0.28),
        ("StyleGAN-XL", "StyleGAN-XL", "GAN", None, None, None, 2.30, 265.12, 0.78, 0.53),
        ("ADM-U", "ADM-U", "pixel diffusion", 400, 742.0, None, 3.94, 215.8, 0.83, 0.53),
        ("VDM++", "VDM++", "pixel diffusion", 560, None, None, 2.12, 267.7, None, None),
        (
            "Simple Diffusion",
            "Simple Diffusion",
            "pixel diffusion",
            800,
            None,
            None,
            2.77,
            211.8,
            None,
            None,
        ),
        ("CDM", "CDM", "pixel diffusion", 2160, None, None, 4.88, 158.7, None, None),
        ("LDM-4", "LDM-4", "latent diffusion", 200, 104.0, None, 3.60, 247.7, 0.87, 0.48),
        ("U-ViT-H/2", "U-ViT-H/2", "latent diffusion", 240, 133.3, 73.5, 2.29, 263.9, 0.82, 0.57),
        ("MaskDiT", "MaskDiT", "latent diffusion", 1600, None, None, 2.28, 276.6, 0.80, 0.61),
        ("SD-DiT", "SD-DiT", "latent diffusion", 480, None, None, 3.23, None, None, None),
        ("dit-xl-2", "DiT-XL/2", "latent diffusion", 1400, 118.6, 76.9, 2.27, 278.2, 0.83, 0.57),
        ("SiT-XL/2", "SiT-XL/2", "latent diffusion", 1400, 118.6, 76.9, 2.06, 277.5, 0.83, 0.59),
        ("dig-xl-2", "DiG-XL/2", "latent diffusion", 240, 89.4, 71.7, 2.07, 279.0, 0.82, 0.60),
        ("dico-xl", "DiCo-XL", "latent diffusion", 750, 87.3, 174.2, 2.05, 282.2, 0.83, 0.59),
        ("dic-h", "DiC-H", "latent diffusion", 400, 204.4, 144.5, 2.25, None, None, None),
        ("fcdm-xl", "FCDM-XL", "latent diffusion", 400, 64.6, 272.7, 2.03, 285.7, 0.81, 0.59),
    )
)

# --- Table 4: benchmark at 512 px, without guidance. -------------------------------------------
_TABLE4 = tuple(
    R(
        model,
        "fcdm:Table 4",
        "table4",
        512,
        gmacs=gmacs,
        throughput_it_s=tp,
        training_steps=steps,
        fid=fid,
        inception_score=is_,
        precision=prec,
        recall=rec,
        cfg_scale=1.0,
        label=label,
        setting=f"w/o cfg; {_steps_text(steps)} iters",
    )
    for model, label, steps, gmacs, tp, fid, is_, prec, rec in (
        ("dit-xl-2", "DiT-XL/2", 400 * _K, 524.7, 18.6, 20.94, 66.3, 0.74, 0.58),
        ("dig-xl-2", "DiG-XL/2", 400 * _K, None, None, 17.36, 69.4, 0.75, 0.63),
        ("dic-xl", "DiC-XL", 400 * _K, 464.3, 124.2, 15.32, 93.6, None, None),
        ("dic-h", "DiC-H", 400 * _K, 817.2, 68.6, 12.89, 101.8, None, None),
        ("fcdm-xl", "FCDM-XL", 400 * _K, 257.7, 129.6, 10.23, 108.7, 0.79, 0.60),
        ("dit-xl-2", "DiT-XL/2", 3 * _M, 524.7, 18.6, 12.03, 105.3, 0.75, 0.64),
        ("dico-xl", "DiCo-XL", 3 * _M, 349.8, 82.0, 7.48, 146.4, 0.78, 0.63),
        ("fcdm-xl", "FCDM-XL", 1 * _M, 257.7, 129.6, 7.46, 133.6, 0.79, 0.61),
    )
)

# --- Table 5: ablations on FCDM-L, 256 px, 200K iterations. The default row is printed once per
# ablation group (identical values); it is kept once per group, as printed. -------------------
_TABLE5 = tuple(
    R(
        model,
        "fcdm:Table 5",
        "table5",
        256,
        gmacs=gmacs,
        training_steps=200 * _K,
        fid=fid,
        inception_score=is_,
        precision=prec,
        recall=rec,
        cfg_scale=1.0,
        label=label,
        setting=f"ablation: {group}",
    )
    for model, label, group, gmacs, fid, is_, prec, rec in (
        (
            "fcdm-l",
            "FCDM-L (Default: 7×7 DWConv)",
            "kernel size (default 7x7)",
            48.3,
            19.97,
            69.19,
            0.6312,
            0.6128,
        ),
        (
            "FCDM-L 5x5 DWConv",
            "7×7 → 5×5 DWConv",
            "kernel size 5x5",
            48.2,
            20.48,
            66.69,
            0.6310,
            0.6017,
        ),
        (
            "FCDM-L 3x3 DWConv",
            "7×7 → 3×3 DWConv",
            "kernel size 3x3",
            48.1,
            21.28,
            64.11,
            0.6269,
            0.5993,
        ),
        (
            "fcdm-l",
            "FCDM-L (Default: FCDM block)",
            "block type (default FCDM block)",
            48.3,
            19.97,
            69.19,
            0.6312,
            0.6128,
        ),
        (
            "FCDM-L ResNet block",
            "FCDM block → ResNet block*",
            "ResNet block, hidden channels 512 -> 336 to match FLOPs",
            48.4,
            31.14,
            49.10,
            0.5866,
            0.5926,
        ),
        (
            "fcdm-l",
            "FCDM-L (Default: U-shaped)",
            "architecture (default U-shaped)",
            48.3,
            19.97,
            69.19,
            0.6312,
            0.6128,
        ),
        (
            "FCDM-L isotropic",
            "U-shaped → Isotropic",
            "isotropic (no U-Net)",
            46.1,
            41.15,
            33.97,
            0.5504,
            0.5889,
        ),
        (
            "fcdm-l",
            "FCDM-L (Default: w/ GRN)",
            "GRN (default with GRN)",
            48.3,
            19.97,
            69.19,
            0.6312,
            0.6128,
        ),
        ("FCDM-L no GRN", "w/o GRN", "no GRN", 48.2, 21.24, 62.35, 0.6302, 0.5923),
    )
)

# --- Table 6: hyper-parameters per scale (configuration, no metrics). ---------------------------
_TABLE6 = tuple(
    R(
        model,
        "fcdm:Table 6",
        "table6",
        resolution,
        training_steps=steps,
        label=label,
        setting="hyperparameters",
        extra=(
            ("blocks_l", blocks),
            ("hidden_channels", width),
            ("expansion_ratio", 3),
            ("global_batch_size", 256),
            ("learning_rate", 1e-4),
            ("sampling_steps", 250),
        ),
    )
    for model, label, resolution, blocks, width, steps in (
        ("fcdm-s", "FCDM-S", 256, 2, 128, 400 * _K),
        ("fcdm-b", "FCDM-B", 256, 2, 256, 400 * _K),
        ("fcdm-l", "FCDM-L", 256, 2, 512, 400 * _K),
        ("fcdm-xl", "FCDM-XL", 256, 3, 512, 2 * _M),
        ("fcdm-xl", "FCDM-XL", 512, 3, 512, 1 * _M),
    )
)

# --- Tables 7 (diffusion) and 8 (flow matching): FID over training steps, 256 px, w/o cfg. -----
# model: (GMACs, ((steps in K, FID, sFID, IS, precision, recall), ...))
_TABLE7 = {
    "fcdm-s": (
        3.10,
        (
            (50, 103.93, 15.03, 12.01, 0.3013, 0.3513),
            (100, 77.17, 12.15, 17.11, 0.3809, 0.4473),
            (150, 66.85, 11.02, 20.68, 0.4136, 0.5106),
            (200, 60.33, 10.70, 23.71, 0.4396, 0.5537),
            (250, 56.08, 10.54, 26.30, 0.4568, 0.5609),
            (300, 53.01, 10.59, 28.10, 0.4687, 0.5806),
            (350, 50.44, 10.29, 30.08, 0.4757, 0.5729),
            (400, 48.53, 10.12, 31.64, 0.4836, 0.5840),
        ),
    ),
    "fcdm-b": (
        12.20,
        (
            (50, 76.61, 9.75, 16.45, 0.3797, 0.4569),
            (100, 50.83, 8.24, 26.90, 0.4854, 0.5543),
            (150, 40.60, 7.53, 35.35, 0.5268, 0.5894),
            (200, 35.00, 7.22, 42.42, 0.5525, 0.5981),
            (250, 31.77, 7.11, 47.22, 0.5665, 0.6117),
            (300, 29.26, 7.03, 51.62, 0.5705, 0.6141),
            (350, 27.34, 6.94, 55.10, 0.5855, 0.6127),
            (400, 26.21, 6.86, 58.04, 0.5908, 0.6112),
        ),
    ),
    "fcdm-l": (
        48.30,
        (
            (50, 55.15, 8.33, 22.74, 0.4655, 0.5403),
            (100, 32.03, 7.10, 43.20, 0.5791, 0.5857),
            (150, 23.88, 6.47, 58.51, 0.6106, 0.6052),
            (200, 19.97, 6.17, 69.19, 0.6312, 0.6128),
            (250, 17.33, 5.99, 77.79, 0.6427, 0.6233),
            (300, 15.98, 5.82, 84.28, 0.6477, 0.6245),
            (350, 14.95, 5.82, 87.55, 0.6527, 0.6257),
            (400, 13.83, 5.65, 93.31, 0.6612, 0.6218),
        ),
    ),
    "fcdm-xl": (
        64.60,
        (
            (50, 51.00, 8.31, 24.37, 0.4940, 0.5475),
            (100, 27.23, 6.86, 49.52, 0.6108, 0.5824),
            (150, 19.25, 6.15, 68.62, 0.6492, 0.5995),
            (200, 15.54, 5.95, 81.40, 0.6690, 0.6051),
            (250, 13.50, 5.74, 91.74, 0.6785, 0.6117),
            (300, 12.31, 5.64, 98.58, 0.6829, 0.6192),
            (350, 11.19, 5.54, 104.86, 0.6914, 0.6227),
            (400, 10.72, 5.47, 108.04, 0.6864, 0.6273),
        ),
    ),
}

_TABLE8 = {
    "fcdm-s": (
        3.10,
        (
            (50, 103.10, 13.10, 12.23, 0.2863, 0.3111),
            (100, 76.95, 11.12, 16.96, 0.3826, 0.4547),
            (150, 66.97, 10.18, 20.56, 0.4228, 0.4953),
            (200, 60.53, 9.62, 23.90, 0.4428, 0.5372),
            (250, 55.94, 9.53, 26.16, 0.4670, 0.5515),
            (300, 52.43, 9.22, 28.78, 0.4787, 0.5632),
            (350, 49.76, 9.05, 31.06, 0.4866, 0.5730),
            (400, 47.84, 8.91, 32.89, 0.4944, 0.5749),
        ),
    ),
    "fcdm-b": (
        12.20,
        (
            (50, 80.10, 18.48, 15.46, 0.3286, 0.4072),
            (100, 52.23, 8.34, 25.95, 0.4891, 0.5450),
            (150, 42.58, 7.85, 33.83, 0.5346, 0.5780),
            (200, 37.01, 7.51, 40.72, 0.5554, 0.5819),
            (250, 33.14, 7.24, 46.39, 0.5728, 0.5855),
            (300, 30.16, 7.07, 51.60, 0.5883, 0.5953),
            (350, 28.40, 6.99, 55.07, 0.5941, 0.6066),
            (400, 26.61, 6.85, 58.51, 0.6050, 0.6017),
        ),
    ),
    "fcdm-l": (
        48.30,
        (
            (50, 57.32, 15.82, 21.61, 0.4467, 0.4872),
            (100, 33.71, 7.74, 40.77, 0.5852, 0.5615),
            (150, 26.10, 6.94, 54.79, 0.6232, 0.5865),
            (200, 21.91, 6.63, 65.12, 0.6429, 0.5909),
            (250, 19.39, 6.47, 73.55, 0.6557, 0.5940),
            (300, 17.59, 6.31, 80.47, 0.6650, 0.6075),
            (350, 16.27, 6.18, 85.62, 0.6681, 0.6064),
            (400, 15.30, 6.17, 90.09, 0.6751, 0.6126),
        ),
    ),
    "fcdm-xl": (
        64.60,
        (
            (50, 51.21, 11.89, 24.21, 0.5010, 0.5006),
            (100, 29.37, 7.34, 46.27, 0.6172, 0.5680),
            (150, 22.07, 6.77, 63.02, 0.6572, 0.5870),
            (200, 17.98, 6.34, 75.71, 0.6747, 0.5909),
            (250, 15.72, 6.24, 85.30, 0.6853, 0.5991),
            (300, 14.16, 6.07, 92.79, 0.6952, 0.6040),
            (350, 13.06, 5.97, 98.22, 0.6976, 0.6072),
            (400, 12.11, 5.96, 103.07, 0.7030, 0.6070),
        ),
    ),
}


def _steps_rows(table: str, objective: str, data: dict) -> tuple[R, ...]:
    number = table.removeprefix("table")
    return tuple(
        R(
            model,
            f"fcdm:Table {number}",
            table,
            256,
            gmacs=gmacs,
            training_steps=k * _K,
            fid=fid,
            sfid=sfid,
            inception_score=is_,
            precision=prec,
            recall=rec,
            cfg_scale=1.0,
            label=model.upper(),
            setting=f"{objective}; {k}K steps",
        )
        for model, (gmacs, rows) in data.items()
        for k, fid, sfid, is_, prec, rec in rows
    )


# --- Table 9: autoencoder ablation, 256 px, 400K iterations. ------------------------------------
_TABLE9 = tuple(
    R(
        model,
        "fcdm:Table 9",
        "table9",
        256,
        gmacs=gmacs,
        training_steps=400 * _K,
        fid=fid,
        label=label,
        setting=f"ablation: {vae}",
        extra=(("vae", vae),),
    )
    for model, label, vae, gmacs, fid in (
        ("dit-xl-2", "DiT-XL/2", "SD-VAE", 118.6, 19.47),
        ("fcdm-xl", "FCDM-XL", "SD-VAE", 64.6, 11.57),
        ("dit-xl-2", "DiT-XL/2", "EQ-VAE", 118.6, 14.50),
        ("fcdm-xl", "FCDM-XL", "EQ-VAE", 64.6, 10.72),
    )
)

# --- Table 10: U-Net ablations, 256 px, 200K iterations ("TP" = throughput, it/s). --------------
_TABLE10 = tuple(
    R(
        model,
        "fcdm:Table 10",
        "table10",
        256,
        params_m=params_m,
        gmacs=gmacs,
        throughput_it_s=tp,
        training_steps=200 * _K,
        fid=fid,
        label=label,
        setting=f"ablation: {group}",
        extra=(("hidden_channels", width), ("depths", depths)),
    )
    for model, label, group, width, depths, params_m, gmacs, tp, fid in (
        (
            "fcdm-l",
            "FCDM-L (Default: Sym. U-Net)",
            "asymmetric U-Net (default symmetric)",
            512,
            "[2, 4, 8, 4, 2]",
            504.5,
            48.3,
            381.3,
            19.97,
        ),
        (
            "FCDM-L asym. U-Net",
            "Asym. U-Net",
            "asymmetric U-Net",
            512,
            "[2, 3, 8, 5, 2]",
            504.5,
            48.3,
            381.3,
            19.55,
        ),
        (
            "fcdm-xl",
            "FCDM-XL (Default: Sym. U-Net)",
            "asymmetric U-Net (default symmetric)",
            512,
            "[3, 6, 12, 6, 3]",
            698.8,
            64.6,
            272.7,
            15.54,
        ),
        (
            "FCDM-XL asym. U-Net",
            "Asym. U-Net",
            "asymmetric U-Net",
            512,
            "[3, 3, 12, 9, 3]",
            698.8,
            64.6,
            272.7,
            15.55,
        ),
        (
            "fcdm-l",
            "FCDM-L (Default: 3-lvl U-Net)",
            "downsample levels (default 3)",
            512,
            "[2, 4, 8, 4, 2]",
            504.5,
            48.3,
            381.3,
            19.97,
        ),
        (
            "FCDM-L 2-level U-Net",
            "2-lvl U-Net*",
            "2-level U-Net, width matched to params",
            1024,
            "[4, 8, 4]",
            482.1,
            140.0,
            153.5,
            17.74,
        ),
        (
            "FCDM-L 4-level U-Net",
            "4-lvl U-Net*",
            "4-level U-Net, width matched to params",
            256,
            "[3, 3, 3, 8, 3, 3, 3]",
            497.5,
            16.0,
            873.7,
            28.67,
        ),
    )
)

# --- Table 11: block-scaling strategies, 256 px, 200K iterations. -------------------------------
_TABLE11 = tuple(
    R(
        model,
        "fcdm:Table 11",
        "table11",
        256,
        params_m=params_m,
        gmacs=gmacs,
        throughput_it_s=tp,
        training_steps=200 * _K,
        fid=fid,
        label=label,
        setting=f"block scaling: {strategy}",
        extra=(("strategy", strategy), ("hidden_channels", width), ("depths", depths)),
    )
    for model, label, strategy, width, depths, params_m, gmacs, tp, fid in (
        (
            "fcdm-s",
            "FCDM-S (Default: Quadratic Scaling)",
            "quadratic",
            128,
            "[2, 4, 8, 4, 2]",
            32.7,
            3.1,
            2687.2,
            60.33,
        ),
        (
            "FCDM-S constant",
            "Constant",
            "constant",
            144,
            "[4, 4, 4, 4, 4]",
            29.9,
            3.7,
            1672.4,
            59.57,
        ),
        (
            "FCDM-S linear",
            "Linear Scaling",
            "linear",
            136,
            "[2, 4, 6, 4, 2]",
            31.4,
            3.1,
            2418.7,
            61.16,
        ),
        (
            "fcdm-b",
            "FCDM-B (Default: Quadratic Scaling)",
            "quadratic",
            256,
            "[2, 4, 8, 4, 2]",
            127.7,
            12.2,
            1001.6,
            35.00,
        ),
        (
            "FCDM-B constant",
            "Constant",
            "constant",
            296,
            "[4, 4, 4, 4, 4]",
            122.6,
            15.4,
            647.2,
            32.75,
        ),
        (
            "FCDM-B linear",
            "Linear Scaling",
            "linear",
            272,
            "[2, 4, 6, 4, 2]",
            122.5,
            12.3,
            922.3,
            36.27,
        ),
        (
            "fcdm-l",
            "FCDM-L (Default: Quadratic Scaling)",
            "quadratic",
            512,
            "[2, 4, 8, 4, 2]",
            504.5,
            48.3,
            381.3,
            19.97,
        ),
        (
            "FCDM-L constant",
            "Constant",
            "constant",
            600,
            "[4, 4, 4, 4, 4]",
            496.6,
            62.8,
            261.6,
            17.63,
        ),
        (
            "FCDM-L linear",
            "Linear Scaling",
            "linear",
            552,
            "[2, 4, 6, 4, 2]",
            497.8,
            49.4,
            358.7,
            19.87,
        ),
    )
)

# --- Baselines' own repositories (not seed-paper tables; `table` is empty). ---------------------
# facebookresearch/DiT @ ed81ce2, README.md: pretrained-checkpoint table ("Gflops" = GMACs) and
# the PyTorch-vs-JAX training check (400K steps, 250 DDPM steps, cfg-scale=1).
_DIT_README = (
    R(
        "dit-xl-2",
        "dit:README (facebookresearch/DiT@ed81ce2)",
        "",
        256,
        gmacs=119.0,
        fid=2.27,
        inception_score=278.24,
        label="XL/2",
        setting="released checkpoint",
    ),
    R(
        "dit-xl-2",
        "dit:README (facebookresearch/DiT@ed81ce2)",
        "",
        512,
        gmacs=525.0,
        fid=3.04,
        inception_score=240.82,
        label="XL/2",
        setting="released checkpoint",
    ),
    R(
        "dit-xl-2",
        "dit:README (facebookresearch/DiT@ed81ce2)",
        "",
        256,
        training_steps=400 * _K,
        fid=19.5,
        cfg_scale=1.0,
        label="XL/2",
        setting="400K; JAX training",
    ),
    R(
        "dit-xl-2",
        "dit:README (facebookresearch/DiT@ed81ce2)",
        "",
        256,
        training_steps=400 * _K,
        fid=18.1,
        cfg_scale=1.0,
        label="XL/2",
        setting="400K; PyTorch training, seed 42",
    ),
    R(
        "dit-b-4",
        "dit:README (facebookresearch/DiT@ed81ce2)",
        "",
        256,
        training_steps=400 * _K,
        fid=68.4,
        cfg_scale=1.0,
        label="B/4",
        setting="400K; JAX training",
    ),
    R(
        "dit-b-4",
        "dit:README (facebookresearch/DiT@ed81ce2)",
        "",
        256,
        training_steps=400 * _K,
        fid=68.9,
        cfg_scale=1.0,
        label="B/4",
        setting="400K; PyTorch training, seed 42",
    ),
    R(
        "dit-b-4",
        "dit:README (facebookresearch/DiT@ed81ce2)",
        "",
        256,
        training_steps=400 * _K,
        fid=68.3,
        cfg_scale=1.0,
        label="B/4",
        setting="400K; PyTorch training, seed 100",
    ),
)

# shallowdream204/DiCo @ b596b05, README.md "Results" (FLOPs via torchprofile = GMACs).
_DICO_README = tuple(
    R(
        model,
        "dico:README (shallowdream204/DiCo@b596b05)",
        "",
        256,
        params_m=params_m,
        gmacs=gmacs,
        training_steps=steps,
        fid=fid,
        inception_score=is_,
        cfg_scale=cfg,
        label=label,
        setting=f"{_steps_text(steps)}; cfg={cfg}",
    )
    for model, label, steps, cfg, fid, is_, params_m, gmacs in (
        ("dico-s", "DiCo-S-400k", 400 * _K, 1.0, 49.97, 31.38, 33.1, 4.25),
        ("dico-b", "DiCo-B-400k", 400 * _K, 1.0, 27.20, 56.52, 130.0, 16.88),
        ("dico-l", "DiCo-L-400k", 400 * _K, 1.0, 13.66, 91.37, 463.9, 60.24),
        ("dico-xl", "DiCo-XL-400k", 400 * _K, 1.0, 11.67, 100.42, 701.2, 87.30),
        ("dico-xl", "DiCo-XL-3750k", 3_750 * _K, 1.4, 2.05, 282.17, 701.2, 87.30),
    )
)

ROWS: tuple[R, ...] = (
    _TABLE1
    + _TABLE2
    + _TABLE3
    + _TABLE4
    + _TABLE5
    + _TABLE6
    + _steps_rows("table7", "diffusion", _TABLE7)
    + _steps_rows("table8", "flow matching", _TABLE8)
    + _TABLE9
    + _TABLE10
    + _TABLE11
    + _DIT_README
    + _DICO_README
)


def rows_for_model(name: str) -> tuple[R, ...]:
    """Published rows whose `model` is the registry name `name`, in the order of `ROWS`."""
    return tuple(row for row in ROWS if row.model == name)
