"""``lazy("torch")``: a stand-in for a module that imports it on first attribute access.

The task families use torch in their model-facing methods only; with ``torch = lazy("torch")``
the torch-free stages that use a family (labels, baselines) do not pay for importing torch.
Likewise their metrics (``xstilts.analysis.metrics``), which the labels stage does not use.
"""

from __future__ import annotations

import importlib
import types


class LazyModule(types.ModuleType):
    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self.__name__), attr)


def lazy(name: str) -> types.ModuleType:
    return LazyModule(name)
