"""Where the repository is: found from this file (an editable install keeps it in the repository)."""
import os
from pathlib import Path


def _root():
    if "SCALPEL_ROOT" in os.environ:
        return Path(os.environ["SCALPEL_ROOT"]).resolve()
    for p in Path(__file__).resolve().parents:
        if (p / "Package.swift").exists() and (p / "Tests" / "Fixtures").is_dir():
            return p
    raise SystemExit("scalpel_reference: cannot find the repository above " + __file__
                     + "; install it editable (pip install -e Tools/reference) or set SCALPEL_ROOT")


ROOT = _root()
FIX = ROOT / "Tests" / "Fixtures"
