"""labkit's provisioning engine: inventory, plays and roles, modules, the SSH runner.

Entry points (see README.md in this folder):
    labkit.provision.inventory.load_inventory(path)      the lab's hosts, groups and vars
    labkit.provision.runner.run_play_file(inv, play)     validate, then run (what `labkit play` does)
    labkit.provision.templating.Renderer                  the project's one Jinja2 renderer
    labkit.provision.connection.connect(host)             the project's one SSH (or local) runner
"""
