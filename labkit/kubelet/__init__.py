"""labkit's kubelet: the node agent.

What is here so far is the part the apiserver talks to, on the kubelet's port
(10250): the streaming server behind ``kubectl logs``, ``exec`` and ``attach``.

- channels.py   the channel.k8s.io WebSocket protocols (v1 ... v5): one byte of
                stream id before each message, the error stream's exit Status,
                v5's close-stream message
- runtime.py    what the kubelet needs from a container runtime for streams
                (exec, attach, where a container's log file is); containerd
                through CRI plugs in here with the kubelet issue
- logs.py       the CRI log file format and the log options (tail, since,
                timestamps, limitBytes, follow)
- streaming.py  the HTTPS server: client certificates, authorization by
                SubjectAccessReview, /containerLogs, /exec, /attach
- host_runtime.py  a runtime of plain host processes that stands in for
                containerd in tests until the kubelet issue
"""
