"""Errors of the provisioning engine: every one names the file and line it is about."""

from __future__ import annotations


class ProvisionError(Exception):
    """A problem in the lab's YAML, roles, templates or a run, with its location.

    ``str(error)`` reads ``file:line: message`` so an editor can jump to it.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}: {self.message}"
        if self.file:
            return f"{self.file}: {self.message}"
        return self.message


class YamlError(ProvisionError):
    """A YAML file that does not parse, or repeats a key in one mapping."""


class InventoryError(ProvisionError):
    """An inventory that is not valid: unknown keys, duplicates, cycles, bad addresses."""


class ValidationError(ProvisionError):
    """A play, role, task or template that is wrong; found before anything runs."""
