"""invoke collections; tasks.py at the repository root assembles them.

One module per collection (``invoke --list`` shows them): each owns its
tasks and nothing else.
"""
