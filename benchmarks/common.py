"""Shared set-up for the benchmarks: the same calibrated random weights and inputs for every implementation.

Weights: the original implementation's random init with BatchNorm statistics calibrated on synthetic images and the
transformer's output LayerNorm gains x4 (tests/reference.py explains why: it makes random weights match like trained
ones). Denormals are flushed (torch.set_flush_denormal), as random weights otherwise push activations into float32
denormals and slow every implementation 3-4x.
"""

from __future__ import annotations

import sys

from machine_info import ROOT, cpu_name, median_time

__all__ = ["ROOT", "machine", "median_time"]  # what the benchmarks import from here

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

torch.set_flush_denormal(True)


def machine() -> str:
    return f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
