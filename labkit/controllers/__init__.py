"""The controllers: level-triggered reconcile loops, run by labkit-controller-manager.

- controller.py       what a controller gets (client, shared informers, options)
- garbagecollector.py dependents follow their owners (Background/Foreground/Orphan)
- namespace.py        a deleted namespace takes its content with it
- manager.py          the labkit-controller-manager process and its table of controllers
"""
