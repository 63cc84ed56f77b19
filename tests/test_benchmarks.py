"""``make bench`` runs each file of benchmarks/ as a script, so the directory is first on
``sys.path``: a benchmark named like a standard library module hides it from all the others
(benchmarks/bisect.py once broke every benchmark that imports ``random``)."""
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_no_benchmark_hides_a_standard_library_module():
    names = {p.stem for p in BENCHMARKS.glob("*.py")}
    assert len(names) >= 5
    assert not names & set(sys.stdlib_module_names), sorted(names & set(sys.stdlib_module_names))
