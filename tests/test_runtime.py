"""runtime.keep_freed_memory: large blocks are reused instead of being mapped afresh."""

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
