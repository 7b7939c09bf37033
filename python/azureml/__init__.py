"""``azureml`` alias of Trainyard: ``import azureml.core.run`` gives ``trainyard.core.run``.

Training scripts written for Azure ML SDK v1 run unchanged: a meta path finder maps every
``azureml.<x>`` module to the ``trainyard.<x>`` module object itself (the same object is
registered under both names, so classes and ``isinstance`` checks are shared). Submodules
Trainyard does not have fail with the usual ModuleNotFoundError for the ``azureml`` name.
"""

import importlib
import sys
from importlib.machinery import ModuleSpec

import trainyard

__version__ = trainyard.__version__
_PREFIX = "azureml."
_TARGET = "trainyard."


class _AliasLoader:
    """Loads ``azureml.<x>`` as the already imported ``trainyard.<x>`` module."""

    def __init__(self, module):
        self._module = module
        self._spec = getattr(module, "__spec__", None)

    def create_module(self, spec):
        return self._module

    def exec_module(self, module):
        # The import system stamps the alias spec on the module; keep the module's own.
        module.__spec__ = self._spec


class _AliasFinder:
    """Meta path finder for the ``azureml.`` namespace."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if not fullname.startswith(_PREFIX):
            return None
        target_name = _TARGET + fullname[len(_PREFIX):]
        try:
            module = importlib.import_module(target_name)
        except ModuleNotFoundError as exc:
            if exc.name and (target_name == exc.name or
                             target_name.startswith(exc.name + ".")):
                return None  # Trainyard has no such module
            raise
        spec = ModuleSpec(fullname, _AliasLoader(module),
                          is_package=hasattr(module, "__path__"))
        if hasattr(module, "__path__"):
            spec.submodule_search_locations = list(module.__path__)
        return spec


if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())
