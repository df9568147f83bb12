"""Large values at and over jute.maxbuffer, and garbage on the client port: the offending
connection is closed, everything else keeps working."""

import random
import socket
import struct

import pytest
from kazoo.exceptions import ConnectionLoss

import rawzk
from scenarios import wait_until

MIB = 1024 * 1024


def test_value_just_under_one_mib_round_trips(connect, base):
    client = connect()
    value = random.Random(7).randbytes(MIB - 1024)
    client.create(base, value)
    data, stat = client.get(base)
    assert data == value and stat.dataLength == len(value)


def test_value_over_one_mib_closes_only_that_connection(connect, base):
    writer, bystander = connect(), connect()
    writer.create(base, b"small")
    session_id = writer.client_id[0]
    with pytest.raises(ConnectionLoss):
        writer.set(base, b"x" * (MIB + 1))
    assert bystander.get(base)[0] == b"small"
    # The writer's session survives: kazoo reconnects with it.
    assert wait_until(lambda: writer.connected)
    assert writer.client_id[0] == session_id
    assert writer.get(base)[0] == b"small"


def _frame(payload):
    return struct.pack("!i", len(payload)) + payload


def _garbage_inputs():
    rng = random.Random(1234)
    noise = rng.randbytes(996)
    return {
        "negative length": struct.pack("!i", -1) + b"junk",
        "length over jute.maxbuffer": struct.pack("!i", 0x7FFFFFF0) + b"junk",
        "short connect request": struct.pack("!i", 12) + bytes(12),
        "random connect body": struct.pack("!i", len(noise)) + noise,
        "connect with bad password length": _frame(
            struct.pack("!iqiq", 0, 0, 10000, 0) + struct.pack("!i", 1 << 30) + bytes(17)
        ),
    }


@pytest.mark.parametrize("name", sorted(_garbage_inputs()))
def test_garbage_closes_the_connection_and_server_keeps_serving(name, target, connect, base):
    bystander = connect()
    bystander.create(base, b"before")
    session_id = bystander.client_id[0]
    with socket.create_connection(("127.0.0.1", target.port), timeout=5) as sock:
        try:
            sock.sendall(_garbage_inputs()[name])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may close before it has read everything: that is fine
        assert rawzk.closed_by_peer(sock), f"{name}: server kept the connection open"
    assert target.four_letter("ruok") == "imok"
    bystander.set(base, b"after")
    assert bystander.get(base)[0] == b"after"
    assert bystander.client_id[0] == session_id


def test_truncated_frame_then_disconnect(target, connect, base):
    with socket.create_connection(("127.0.0.1", target.port), timeout=5) as sock:
        sock.sendall(struct.pack("!i", 44) + bytes(10))
    client = connect()
    client.create(base)
    assert client.exists(base) is not None


MARSHALLING_ERROR = -5
UNIMPLEMENTED = -6
PING = struct.pack("!iii", 8, -2, 11)


def _reply_header(sock):
    xid, _zxid, err = struct.unpack_from("!iqi", rawzk.read_frame(sock))
    return xid, err


def test_truncated_request_body_is_a_marshalling_error(target):
    _, _, _, sock = rawzk.handshake(target.port, 10000)
    try:
        # getData needs a path and a watch flag; give it neither, then a path but no flag.
        for body in [struct.pack("!ii", 1, 4), struct.pack("!iii", 2, 4, 2) + b"/a"]:
            sock.sendall(struct.pack("!i", len(body)) + body)
            assert _reply_header(sock) == (struct.unpack_from("!i", body)[0], MARSHALLING_ERROR)
        # The connection and session keep working.
        sock.sendall(PING)
        assert _reply_header(sock) == (-2, 0)
    finally:
        rawzk.close_session(sock)


def test_unknown_opcode_is_unimplemented_and_closes(target, connect, base):
    _, _, _, sock = rawzk.handshake(target.port, 10000)
    with sock:
        sock.sendall(struct.pack("!iii", 8, 7, 999))
        assert _reply_header(sock) == (7, UNIMPLEMENTED)
        assert rawzk.closed_by_peer(sock)
    client = connect()
    client.create(base)
    assert client.exists(base) is not None
