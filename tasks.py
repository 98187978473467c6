"""labkit's invoke tasks: `invoke --list` shows them all.

The collections live in labkit/tasks/, one module each.
"""

from invoke import Collection

ns = Collection()
