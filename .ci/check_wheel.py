"""Check an installed fastgan: its _C loads, matches the package version, and (--cuda) has CUDA kernels.

Run from outside the source tree, in the environment that holds the installed package:
``python .ci/check_wheel.py [--cuda]``. Prints one line; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cuda", action="store_true", help="require the CUDA kernels to be compiled in")
    args = parser.parse_args()
    import fastgan
    from fastgan import _ext

    here = os.path.dirname(os.path.abspath(fastgan.__file__))
    if _ext._C is None:
        print(f"check_wheel: fastgan._C does not load from {here}: {_ext.EXT_ERROR}")
        return 1
    problems = []
    if _ext._C.__version__ != fastgan.__version__:
        problems.append(f"_C is version {_ext._C.__version__}, the package {fastgan.__version__}")
    if args.cuda and not _ext.HAS_CUDA_EXT:
        problems.append("no CUDA kernels compiled in")
    compilers = [c for c in ("cc", "gcc", "c++", "g++", "nvcc") if shutil.which(c)]
    info = fastgan.backends()
    print(
        f"check_wheel: fastgan {fastgan.__version__} from {here}: C++ kernels {info['cpp']}, "
        f"CUDA kernels {info['cuda_compiled']} ({info['cuda']['message'] or 'usable'}), "
        f"compilers on PATH: {compilers or 'none'}"
    )
    for p in problems:
        print(f"check_wheel: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
