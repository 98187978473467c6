"""The channel.k8s.io framing: stream ids, base64 variants, v5's close message, the exit-code Status."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.kubelet import channels
from labkit.kubelet.channels import CLOSE, ERROR, RESIZE, STDIN, STDOUT, ProtocolError


def test_negotiation_takes_the_clients_first_known_protocol():
    assert channels.negotiate(["v5.channel.k8s.io", "v4.channel.k8s.io"]) is channels.V5
    assert channels.negotiate(["v4.channel.k8s.io", "v5.channel.k8s.io"]) is channels.V4
    assert channels.negotiate(["SPDY/3.1", "base64.channel.k8s.io"]) is channels.V1_BASE64
    assert channels.negotiate([]) is channels.V1  # old clients offer nothing
    assert channels.negotiate(["v9.channel.k8s.io"]) is None


def test_offered_splits_the_header():
    assert channels.offered("v5.channel.k8s.io, v4.channel.k8s.io") == ["v5.channel.k8s.io", "v4.channel.k8s.io"]
    assert channels.offered(None) == []


def test_binary_framing_is_one_byte_of_stream_id():
    assert channels.encode(channels.V4, STDOUT, b"hi\n") == b"\x01hi\n"
    assert channels.decode(channels.V4, b"\x00input") == (STDIN, b"input")


def test_base64_framing_is_an_ascii_digit_and_base64():
    assert channels.encode(channels.V4_BASE64, STDOUT, b"hi\n") == "1aGkK"
    assert channels.decode(channels.V1_BASE64, "0aGkK") == (STDIN, b"hi\n")
    with pytest.raises(ProtocolError, match="not base64"):
        channels.decode(channels.V1_BASE64, "0***")
    with pytest.raises(ProtocolError, match="stream digit"):
        channels.decode(channels.V1_BASE64, "xabc")


@given(st.sampled_from(channels.PROTOCOLS), st.integers(0, 4), st.binary(max_size=200))
def test_encode_then_decode_is_the_identity(protocol, stream, data):
    assert channels.decode(protocol, channels.encode(protocol, stream, data)) == (stream, data)


def test_close_message_is_v5_only():
    assert channels.close_message(STDIN) == b"\xff\x00"
    assert channels.decode(channels.V5, b"\xff\x00") == (CLOSE, b"\x00")
    with pytest.raises(ProtocolError, match="needs v5"):
        channels.decode(channels.V4, b"\xff\x00")
    with pytest.raises(ProtocolError, match="names one stream"):
        channels.decode(channels.V5, b"\xff")


def test_empty_message_is_refused():
    with pytest.raises(ProtocolError, match="no stream id"):
        channels.decode(channels.V5, b"")


def test_terminal_size():
    assert channels.terminal_size(b'{"Width": 120, "Height": 40}') == (120, 40)
    with pytest.raises(ProtocolError, match="resize"):
        channels.terminal_size(b"80x24")


def test_exit_code_status_is_what_kubectl_and_the_python_client_read():
    status = channels.exit_code_status(3, ["sh", "-c", "exit 3"])
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert status["message"].startswith("command terminated with non-zero exit code")
    payload = channels.status_payload(channels.V4, status)
    assert channels.exit_code_of(payload) == 3
    assert channels.exit_code_of(channels.status_payload(channels.V5, channels.success_status())) == 0
    with pytest.raises(ProtocolError, match="without an exit code"):
        channels.exit_code_of(json.dumps(channels.error_status("no such program")).encode())


def test_before_v4_the_error_stream_is_plain_text():
    assert channels.status_payload(channels.V1, channels.success_status()) is None
    text = channels.status_payload(channels.V1, channels.exit_code_status(2, ["false"]))
    assert text.startswith(b"command terminated with non-zero exit code")


def test_stream_ids_are_upstreams():
    assert (STDIN, STDOUT, ERROR, RESIZE, CLOSE) == (0, 1, 3, 4, 255)
