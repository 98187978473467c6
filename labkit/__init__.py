"""labkit: real Kubernetes-style lab clusters whose components are readable Python."""

__version__ = "0.1.0"
