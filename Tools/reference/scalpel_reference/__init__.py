"""Scalpel's reference pieces in Python, written from docs/METHOD.md independently of the Swift code.

The fixture generators (Tools/fixtures), the experiments (Tools/experiments) and the benchmark
import these instead of each other. Install once, editable, so the paths below point into the
repository: `python3 -m pip install -e Tools/reference` (Tools/setup/setup.sh --reference does).

    paths    ROOT, FIX: the repository and its Tests/Fixtures
    corpus   MIXED, INVALID: the mixed-script sentences and invalid UTF-8 the fixtures use
    data     read_documents, select_windows (METHOD.md §6)
    masking  SplitMix64, corrupt (METHOD.md §6, masked LMs)
    metrics  metrics, evaluate, evaluate_masked (METHOD.md §7)
"""
