"""What this machine is: the one description used by ``xpnet env`` and every benchmark record.

Library versions, the BLAS NumPy runs on and its threads, the CPU model and cores, the GPUs,
the load average and which of xpnet's NumPy kernels run.  Every function answers from what
is installed and never raises: a fact that cannot be had is ``None`` (or left out).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import re
import shutil
import socket
import subprocess
from typing import Any

import numpy as np

from ..backends import get_backend

__all__ = ["DISTRIBUTIONS", "version", "versions", "cpu_model", "cpus_usable", "load_average",
           "blas_threads", "blas_info", "blas_summary", "gpu_info", "machine_info", "slug"]

#: distributions whose versions are recorded (the ones not installed are left out)
DISTRIBUTIONS = ("xpnet", "numpy", "array-api-compat", "array-api-strict", "torch",
                 "cupy-cuda12x", "cupy-cuda13x", "cupy", "numba", "scikit-learn",
                 "threadpoolctl", "matplotlib", "tqdm", "joblib", "dask")

#: environment variables that change how many threads the libraries use, or which GPUs
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
              "CUDA_VISIBLE_DEVICES")


def version(dist: str) -> str | None:
    """The installed version of distribution ``dist`` ("numpy", "torch", ...), None if absent.

    ``xpnet`` answers with the imported package's ``__version__`` (true in a source checkout
    that was never installed, too).

    Example:
        >>> import numpy as np
        >>> version("numpy") == np.__version__, version("no-such-distribution") is None
        (True, True)
    """
    if dist == "xpnet":
        from .. import __version__  # noqa: PLC0415 - the package root, imported by now

        return __version__
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions(dists: tuple[str, ...] = DISTRIBUTIONS) -> dict[str, str]:
    """``{"python": ..., dist: version}`` for each installed distribution of ``dists``.

    Example:
        >>> sorted(versions(("numpy", "no-such-distribution")))  # the absent one is left out
        ['numpy', 'python']
    """
    out = {"python": platform.python_version()}
    out.update({d: v for d in dists if (v := version(d)) is not None})
    return out


def cpu_model() -> str:
    """The CPU's model name ("AMD EPYC 7B13"), or the platform's best guess.

    Example:
        >>> name = cpu_model()  # e.g. 'AMD EPYC 7B13'
        >>> isinstance(name, str) and name != ""
        True
    """
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def cpus_usable() -> int | None:
    """Cores this process may run on (its affinity mask), else the machine's count.

    Example:
        >>> cpus_usable() >= 1
        True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count()


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages, rounded to 0.01, or None where unknown.

    Example:
        >>> load = load_average()  # e.g. [0.52, 0.48, 0.4]
        >>> load is None or len(load) == 3
        True
    """
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _memory_bytes() -> int | None:
    with contextlib.suppress(ValueError, OSError, AttributeError):  # not POSIX
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return None


def blas_threads() -> int | None:
    """Threads of NumPy's BLAS pool (what the NumPy backend reports), None when unknown.

    Example:
        >>> threads = blas_threads()  # e.g. 2
        >>> threads is None or threads >= 1
        True
    """
    return get_backend("numpy").threads()


def blas_info() -> dict[str, Any]:
    """The BLAS NumPy was built with (``numpy_build``) and every thread pool loaded now, as
    threadpoolctl describes them (``threadpools``).

    Example:
        >>> set(blas_info()) <= {"numpy_build", "threadpools"}
        True
    """
    info: dict[str, Any] = {}
    try:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        info["numpy_build"] = {k: blas[k] for k in ("name", "version", "openblas configuration")
                               if blas.get(k)}
    except Exception:  # noqa: BLE001 - older NumPy (no mode="dicts") or an unusual build
        pass
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_info  # noqa: PLC0415 - optional

        info["threadpools"] = threadpool_info()
    return info


def blas_summary() -> str:
    """One line for people: "openblas 0.3.27, 2 threads" ("unknown BLAS" where unknown).

    Example:
        >>> line = blas_summary()  # e.g. 'scipy-openblas 0.3.31, 2 threads'
        >>> isinstance(line, str) and len(line.splitlines()) == 1
        True
    """
    build = blas_info().get("numpy_build", {})
    text = f"{build.get('name', '')} {build.get('version', '')}".strip() or "unknown BLAS"
    threads = blas_threads()
    return text if threads is None else f"{text}, {threads} threads"


def gpu_info() -> list[dict[str, Any]]:
    """Visible NVIDIA GPUs (name, memory, compute capability, driver), [] without one.

    Asks PyTorch, then CuPy, then ``nvidia-smi`` for the driver; never raises.  (The example,
    on a machine with one H100, is skipped by the doctests: its answer depends on the machine,
    and it imports PyTorch or CuPy where installed, which is slow.)

    Example:
        >>> [gpu["name"] for gpu in gpu_info()]  # doctest: +SKIP
        ['NVIDIA H100 80GB HBM3']
    """
    gpus: list[dict[str, Any]] = []
    with contextlib.suppress(Exception):
        import torch  # noqa: PLC0415 - optional

        for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
            p = torch.cuda.get_device_properties(i)
            gpus.append({"index": i, "name": p.name, "memory_bytes": int(p.total_memory),
                         "compute_capability": f"{p.major}.{p.minor}",
                         "torch_cuda": torch.version.cuda})
    if not gpus:
        with contextlib.suppress(Exception):
            import cupy  # noqa: PLC0415 - optional

            for i in range(cupy.cuda.runtime.getDeviceCount()):
                p = cupy.cuda.runtime.getDeviceProperties(i)
                name = p["name"].decode() if isinstance(p["name"], bytes) else str(p["name"])
                gpus.append({"index": i, "name": name, "memory_bytes": int(p["totalGlobalMem"]),
                             "compute_capability": f"{p['major']}.{p['minor']}"})
    if gpus and shutil.which("nvidia-smi"):
        with contextlib.suppress(Exception):
            drivers = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                                      "--format=csv,noheader"], capture_output=True, text=True,
                                     timeout=20, check=True).stdout.split()
            for gpu, driver in zip(gpus, drivers, strict=False):
                gpu["driver"] = driver
    return gpus


def machine_info() -> dict[str, Any]:
    """Where the numbers were taken: host, CPU model and cores, memory, BLAS, GPUs, versions,
    which of xpnet's NumPy kernels run (compiled with numba, or NumPy ufuncs) and the
    thread-related environment variables.  (The example is skipped by the doctests: it asks
    :func:`gpu_info`, which imports PyTorch or CuPy where installed.)

    Example:
        >>> info = machine_info()  # doctest: +SKIP
        >>> info["cpus_usable"] >= 1, "numpy" in info["versions"]  # doctest: +SKIP
        (True, True)
    """
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": cpus_usable(),
        "memory_bytes": _memory_bytes(),
        "blas": blas_info(),
        "xpnet_numpy_kernels": get_backend("numpy").ops.describe(),
        "gpus": gpu_info(),
        "versions": versions(),
        "env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
    }


def slug(text: str) -> str:
    """``text`` as a lowercase file-name fragment ("AMD EPYC 7B13" -> "amd-epyc-7b13").

    Example:
        >>> slug("AMD EPYC 7B13"), slug("Intel(R) Xeon(R) CPU @ 2.20GHz")
        ('amd-epyc-7b13', 'intel-xeon')
    """
    text = re.sub(r"\(r\)|\(tm\)|cpu @.*$", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "unknown"
