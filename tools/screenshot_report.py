"""Screenshot an fcdmbench HTML report in a real browser (headless Chromium), to look at it as a
reader does: the whole page at a window width of 1280 px, cropped to its content, and cut into
tiles short enough to view one at a time.

    python tools/screenshot_report.py                    # builds the demo report first
    python tools/screenshot_report.py reports/demo --width 1280 --out shots/

Needs Chromium (Debian/Ubuntu: `apt-get install chromium`) and Pillow (a matplotlib dependency).
Prints the files it wrote. What to check on the pictures: every figure shows, every table is
readable at this width, nothing overlaps. (`tests/reporting/test_report_html.py` checks images,
links and cells by parsing the HTML.)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MAX_HEIGHT = 40_000  # px: taller pages are cut off (and the script says so)


def build_demo(out: Path) -> None:
    """`fcdmbench report --out OUT --format md,html`, as the README's demo runs it."""
    command = [sys.executable, "-m", "fcdmbench", "report", "--out", str(out)]
    subprocess.run([*command, "--format", "md,html"], check=True)


def screenshot(html: Path, png: Path, width: int) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("error: chromium not found\nhint: apt-get install chromium")
    subprocess.run(
        [
            browser,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={png}",
            f"--window-size={width},{MAX_HEIGHT}",
            html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
    )


def crop_and_tile(png: Path, out: Path, tile_height: int) -> list[Path]:
    """Crop the blank area below the page, save it whole and in tiles; return the files."""
    import numpy as np
    from PIL import Image

    image = Image.open(png).convert("RGB")
    ink = np.where((np.asarray(image.convert("L")) < 250).any(axis=1))[0]
    height = int(ink.max()) + 20 if len(ink) else image.height
    if height >= MAX_HEIGHT:
        print(f"warning: page taller than {MAX_HEIGHT} px; the rest is cut off", file=sys.stderr)
    page = image.crop((0, 0, image.width, min(height, image.height)))
    files = [out / "report.png"]
    page.save(files[0])
    for i, top in enumerate(range(0, page.height, tile_height), start=1):
        tile = page.crop((0, top, page.width, min(top + tile_height, page.height)))
        files.append(out / f"report-{i:02d}.png")
        tile.save(files[-1])
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", nargs="?", type=Path, help="report folder (default: demo)")
    parser.add_argument("--width", type=int, default=1280, help="window width in px")
    parser.add_argument("--tile-height", type=int, default=1600, help="height of each tile")
    parser.add_argument("--out", type=Path, help="folder for the PNGs (default: the report's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        report = args.report or Path(scratch) / "demo"
        if args.report is None:
            build_demo(report)
        out = args.out or (report if args.report else Path("."))
        out.mkdir(parents=True, exist_ok=True)
        raw = Path(scratch) / "raw.png"
        screenshot(report / "report.html", raw, args.width)
        for path in crop_and_tile(raw, out, args.tile_height):
            print(path)


if __name__ == "__main__":
    main()
