"""The benchmark's deploy for pyinfra (the same work as ../labkit/site.yaml)."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import apt, files, server

prefix = host.data.root_prefix
name = host.data.name

apt.packages(name="package check", packages=["openssh-client"])
for path in ("etc/bench", "etc/systemd/system/multi-user.target.wants"):
    files.directory(name="config directories", path=f"{prefix}/{path}", mode="755")

changed = []
for item in range(10):
    changed.append(files.template(name="ten templated files", src="templates/bench.conf.j2",
                                  dest=f"{prefix}/etc/bench/conf-{item}.conf", mode="644",
                                  item=item, inventory_hostname=name))
for item in range(10):
    files.put(name="ten copied files", src=StringIO(f"static file {item} of {name}\n"),
              dest=f"{prefix}/etc/bench/static-{item}.txt", mode="644")
changed.append(files.template(name="service unit", src="templates/bench.service.j2",
                              dest=f"{prefix}/etc/systemd/system/bench.service", mode="644",
                              inventory_hostname=name))
files.link(name="service enabled", path=f"{prefix}/etc/systemd/system/multi-user.target.wants/bench.service",
           target=f"{prefix}/etc/systemd/system/bench.service")
server.shell(name="restart bench", commands=[f"date >> {prefix}/restarts"],
             _if=lambda: any(op.did_change() for op in changed))
