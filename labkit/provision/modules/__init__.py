"""Modules: the things a task can do. One file per family; see base.py for the API.

Every ``*.py`` file in this folder is imported, so a new module is one new
file with a ``@register``-ed class.
"""

from __future__ import annotations

import importlib
import pkgutil

from labkit.provision.modules.base import MODULES, Arg, Module, ModuleFailure, Plan, register

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["MODULES", "Arg", "Module", "ModuleFailure", "Plan", "register"]
