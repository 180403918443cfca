"""Process-wide settings: runtime.keep_freed_memory reuses large blocks instead of mapping them
afresh; library calls leave threads, torch's RNG and transformers' logging as they found them."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROBE = """
import resource, sys, torch
if sys.argv[1] == "keep":
    from stablex.runtime import keep_freed_memory
    assert keep_freed_memory()
for _ in range(2):  # 64 MB blocks; the heap grows to its working size in both cases
    x = torch.ones(16 << 20); del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    x = torch.ones(16 << 20); del x
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc malloc setting")
def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    default, kept = page_faults("default"), page_faults("keep")
    assert default > 10 * 16_000 * 0.9  # 10 fresh 64 MB blocks: about 16,000 faults of 4 kB each
    assert kept < default / 5  # at most one block faulted in once, not one per allocation


def test_library_calls_leave_threads_rng_and_logging_as_they_were(tmp_path):
    """Initialising a head and explaining (the real stage, on a tiny model) scope what they change: the
    caller's torch thread count, global RNG stream and transformers verbosity are intact."""
    import torch
    from transformers.utils import logging as hf_logging

    from stablex.config import ExplainConfig
    from stablex.explain.stage import explain
    from stablex.models.classifier import init_classifier
    from stablex.runtime import torch_threads
    from test_explain_stage import make_run

    run = make_run(tmp_path / "run")
    threads = torch.get_num_threads()
    hf_logging.set_verbosity_warning()
    torch.manual_seed(1234)
    expected = torch.rand(3)  # what the caller's stream gives next, untouched
    torch.manual_seed(1234)
    init_classifier(run, ["news", "opinion"], init_seed=7)  # seeds the head's draw
    explain(run, "gxi", ExplainConfig(threads=1, randomisation_texts=0), show_progress=False)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads
    assert hf_logging.get_verbosity() == hf_logging.WARNING
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads
