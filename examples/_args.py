"""The command-line options every example shares: --smoke, --out, --backend."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def example_parser(doc: str, out_help: str = "where the PNGs go") -> argparse.ArgumentParser:
    """A parser with --smoke (also XPNET_SMOKE=1), --out DIR and --backend NAME."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        default=os.environ.get("XPNET_SMOKE") == "1",
                        help="a few epochs only (also: XPNET_SMOKE=1)")
    parser.add_argument("--out", type=Path, default=Path("."), help=out_help)
    parser.add_argument("--backend", default="numpy", help="numpy, torch, cupy, ...")
    return parser
