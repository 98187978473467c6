"""The channel.k8s.io WebSocket protocols of exec and attach (what kubectl and the Python client speak).

One WebSocket carries several streams. Every message starts with the id of
the stream it belongs to:

    0 stdin    client -> server
    1 stdout   server -> client
    2 stderr   server -> client
    3 error    server -> client: how the command ended
    4 resize   client -> server: terminal size, JSON {"Width": 80, "Height": 24}

The versions, offered by the client in ``Sec-WebSocket-Protocol`` (the server
takes the first one it knows, in the client's order):

- ``channel.k8s.io`` (v1): binary messages, the id as one byte; the error
  stream carries plain text.
- ``base64.channel.k8s.io``: text messages, the id as an ASCII digit and the
  data base64-encoded (for clients that cannot send binary messages).
- ``v4.channel.k8s.io`` (and ``v4.base64.channel.k8s.io``): the error stream
  carries a JSON ``Status``: ``{"status": "Success"}``, or for a command that
  exited non-zero reason ``NonZeroExitCode`` with the exit code as the
  message of a cause of reason ``ExitCode`` (kubectl exits with that code).
- ``v5.channel.k8s.io``: v4 plus the close message ``[255, id]``: one side
  closes one stream (kubectl sends ``[255, 0]`` when its stdin ends, so
  ``kubectl exec -i`` with piped input ends the command's stdin).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255  # v5: the message [255, stream id] closes that stream


@dataclass(frozen=True)
class Protocol:
    name: str
    version: int  # 1 (channel.k8s.io), 4 or 5
    base64: bool = False

    @property
    def status_json(self) -> bool:
        """v4 and later: the error stream carries a JSON Status (before: plain text)."""
        return self.version >= 4

    @property
    def can_close_streams(self) -> bool:
        return self.version >= 5


V5 = Protocol("v5.channel.k8s.io", 5)
V4 = Protocol("v4.channel.k8s.io", 4)
V4_BASE64 = Protocol("v4.base64.channel.k8s.io", 4, base64=True)
V1 = Protocol("channel.k8s.io", 1)
V1_BASE64 = Protocol("base64.channel.k8s.io", 1, base64=True)
PROTOCOLS = (V5, V4, V4_BASE64, V1, V1_BASE64)
BY_NAME = {p.name: p for p in PROTOCOLS}


class ProtocolError(ValueError):
    """A message that does not follow the negotiated protocol."""


def offered(header: str | None) -> list[str]:
    """The protocols of a Sec-WebSocket-Protocol header, in the client's order."""
    return [p.strip() for p in (header or "").split(",") if p.strip()]


def negotiate(client_protocols: list[str]) -> Protocol | None:
    """The first of the client's protocols that is known; a client that offers none gets channel.k8s.io
    (as upstream, for old clients); None when it offers only unknown ones."""
    if not client_protocols:
        return V1
    for name in client_protocols:
        if name in BY_NAME:
            return BY_NAME[name]
    return None


def encode(protocol: Protocol, stream: int, data: bytes) -> bytes | str:
    """One message for ``stream``: bytes for a binary protocol, str for a base64 one."""
    if protocol.base64:
        return str(stream) + base64.b64encode(data).decode("ascii")
    return bytes([stream]) + data


def decode(protocol: Protocol, message: bytes | str) -> tuple[int, bytes]:
    """(stream id, data) of a message; v5's close message is (CLOSE, bytes([closed stream id]))."""
    if protocol.base64:
        if isinstance(message, bytes):
            message = message.decode("ascii", errors="replace")
        if not message:
            raise ProtocolError("an empty message carries no stream id")
        if not message[0].isdigit():
            raise ProtocolError(f"a base64 message must start with a stream digit, not {message[0]!r}")
        try:
            return int(message[0]), base64.b64decode(message[1:], validate=True)
        except binascii.Error as exc:
            raise ProtocolError(f"stream {message[0]}: data is not base64: {exc}") from None
    if isinstance(message, str):
        message = message.encode()
    if not message:
        raise ProtocolError("an empty message carries no stream id")
    stream, data = message[0], message[1:]
    if stream == CLOSE:
        if not protocol.can_close_streams:
            raise ProtocolError(f"stream 255 (close) needs v5.channel.k8s.io, not {protocol.name}")
        if len(data) != 1:
            raise ProtocolError(f"a close message names one stream: [255, id], got {len(data)} bytes after 255")
    return stream, data


def close_message(stream: int) -> bytes:
    """v5: tell the other side that ``stream`` is finished."""
    return bytes([CLOSE, stream])


def terminal_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a resize message: JSON {"Width": w, "Height": h}."""
    try:
        size = json.loads(data)
        return int(size.get("Width", 0)), int(size.get("Height", 0))
    except (ValueError, TypeError, AttributeError):
        raise ProtocolError(f"a resize message is JSON {{\"Width\": w, \"Height\": h}}, got {data[:80]!r}") from None


# -- how the command ended: the error stream -------------------------------------------

def success_status() -> dict:
    return {"metadata": {}, "status": "Success"}


def exit_code_status(exit_code: int, command: list[str]) -> dict:
    """A command that exited non-zero, worded as upstream's kubelet writes it."""
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: command '{' '.join(command)}' exited with "
                   f"{exit_code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def error_status(message: str) -> dict:
    """The command could not run at all (upstream: an InternalError Status, worded as its NewInternalError)."""
    return {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {message}",
            "reason": "InternalError", "details": {"causes": [{"message": message}]}, "code": 500}


def status_payload(protocol: Protocol, status: dict) -> bytes | None:
    """What the error stream carries for ``status``: JSON from v4 on; before, the message text (nothing on
    success)."""
    if protocol.status_json:
        return json.dumps(status).encode()
    if status.get("status") == "Success":
        return None
    return str(status.get("message", "")).encode()


def exit_code_of(payload: bytes) -> int:
    """The exit code a v4/v5 error-stream payload reports (0 for Success), as kubectl reads it."""
    status = json.loads(payload)
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise ProtocolError(f"the error stream reports a failure without an exit code: {status.get('message')}")
