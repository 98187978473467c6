"""labkit's invoke tasks: `invoke --list` shows them all.

The collections live in labkit/tasks/, one module each.
"""

from invoke import Collection

from labkit.tasks import cluster, local, machines, pki

ns = Collection()
ns.add_collection(Collection.from_module(pki))
ns.add_collection(Collection.from_module(cluster))
ns.add_collection(Collection.from_module(local))
ns.add_collection(machines.ns)
