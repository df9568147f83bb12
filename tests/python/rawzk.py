"""The bare client handshake over a socket, for what kazoo cannot show: the negotiated session
timeout, a refused session password, and malformed input."""

import socket
import struct

CONNECT_TIMEOUT_S = 5.0


def _frame(payload):
    return struct.pack("!i", len(payload)) + payload


def connect_request(timeout_ms, session_id=0, password=b"\0" * 16, last_zxid=0):
    payload = struct.pack("!iqiq", 0, last_zxid, timeout_ms, session_id)
    payload += struct.pack("!i", len(password)) + password + b"\0"  # readOnly = false
    return _frame(payload)


def close_session_request(xid=1):
    return _frame(struct.pack("!ii", xid, -11))


def read_frame(sock):
    header = _read_exact(sock, 4)
    (length,) = struct.unpack("!i", header)
    return _read_exact(sock, length)


def _read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def handshake(port, timeout_ms, session_id=0, password=b"\0" * 16):
    """Connects and returns (negotiated timeout, session id, password, socket)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_S)
    sock.sendall(connect_request(timeout_ms, session_id, password))
    reply = read_frame(sock)
    _protocol, granted, sid, pw_len = struct.unpack_from("!iiqi", reply)
    password_out = reply[20 : 20 + pw_len] if pw_len > 0 else b""
    return granted, sid, password_out, sock


def close_session(sock):
    """Ends the session politely (so it does not linger until it expires) and closes."""
    try:
        sock.sendall(close_session_request())
        read_frame(sock)
    except OSError:
        pass
    finally:
        sock.close()


def closed_by_peer(sock, timeout=10.0):
    """Reads until the server closes the connection; True if it did within `timeout`."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
