"""labkit's client machinery (client-go, written our own way, on asyncio).

- kubeconfig.py     where the apiserver is and who we are
- api.py            one async REST client for every resource of the registry
- informer.py       list+watch into a local indexed cache, shared per process
- workqueue.py      de-duplicating, rate-limited queue of keys for controllers
- leaderelection.py Lease-based leader election between copies of a component
"""

from labkit.client.api import ApiClient, WatchExpired, object_key, resolve, split_key
from labkit.client.kubeconfig import ConfigError, ConnectionConfig, in_cluster_config, load_config, load_kubeconfig

__all__ = [
    "ApiClient", "WatchExpired", "object_key", "resolve", "split_key",
    "ConfigError", "ConnectionConfig", "in_cluster_config", "load_config", "load_kubeconfig",
]
