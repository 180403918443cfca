"""Process-wide settings, in one place. Library calls only scope what they change
(`torch_threads`); what cannot be scoped (`keep_freed_memory`) is called by the entry points
(the CLI, `pipeline.run_study`) or by a user who wants it."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from contextlib import contextmanager
from functools import lru_cache

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4


@contextmanager
def torch_threads(n: int | None):
    """torch's intra-op thread count set to `n` inside the block, the caller's restored after
    (None: left as it is)."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(before)


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Let glibc malloc serve large blocks from its heap and keep what is freed.

    By default glibc maps every block above 32 MB afresh and unmaps it when freed, so each
    new T x T attention tensor (50 MB for 4 texts of 512 tokens) pays one page fault per 4 kB
    on first write: measured, lrp at 512 tokens spent a quarter of its time in the kernel.
    With mmap off for malloc and a high trim threshold, freed blocks are reused instead
    (bench_explain.py: lrp 497 -> 375 ms per text). The price: the process keeps its peak
    memory until it exits. Returns False (and changes nothing) where libc is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0) and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) and mallopt(_M_TOP_PAD, 64 << 20))
