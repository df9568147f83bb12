"""Sessions survive dropped connections, move between connections with their id and password,
and end with their ephemerals."""

import socket

from kazoo.client import KazooClient
from kazoo.protocol.states import EventType, KazooState

import rawzk
import zkext
from scenarios import EventLog, wait_until


def test_session_resumes_after_dropped_connection(connect, base):
    client, other = connect(), connect()
    client.create(base)
    client.create(f"{base}/eph", ephemeral=True)
    client.create(f"{base}/watched", b"0")
    session_id = client.client_id[0]
    states = []
    client.add_listener(states.append)
    events = EventLog()
    client.get(f"{base}/watched", watch=events)

    # Cut the TCP connection under kazoo's feet; it reconnects with the same session.
    client._connection._socket.shutdown(socket.SHUT_RDWR)
    assert wait_until(lambda: states[-2:] == [KazooState.SUSPENDED, KazooState.CONNECTED]), states
    assert client.client_id[0] == session_id
    assert other.exists(f"{base}/eph").ephemeralOwner == session_id
    assert client.get(f"{base}/watched")[0] == b"0"

    # kazoo 2.11 does not restore watches with setWatches: it tells its watchers that the
    # connection changed (a NONE event) and forgets them. New watches work as before.
    assert events.take() == [(EventType.NONE, None)]
    client.get(f"{base}/watched", watch=events)
    other.set(f"{base}/watched", b"1")
    zkext.settle(client)
    assert events.take() == [(EventType.CHANGED, f"{base}/watched")]


def test_session_moves_with_id_and_password_and_close_ends_it(target, connect, base):
    first, observer = connect(), connect()
    first.create(base)
    first.create(f"{base}/eph", ephemeral=True)
    session_id, password = first.client_id
    first_states = []
    first.add_listener(first_states.append)

    second = KazooClient(hosts=target.hosts, client_id=(session_id, password), timeout=10.0)
    second.start(timeout=15)
    try:
        assert second.client_id[0] == session_id
        assert second.exists(f"{base}/eph").ephemeralOwner == session_id
        second.create(f"{base}/eph2", ephemeral=True)
    finally:
        second.stop()  # closes the session, whichever connection it is on
        second.close()
    zkext.settle(observer)
    assert observer.get_children(base) == []
    assert wait_until(lambda: KazooState.LOST in first_states), first_states


def test_wrong_password_gets_a_new_session(target, connect, base):
    owner = connect()
    owner.create(base)
    owner.create(f"{base}/eph", ephemeral=True)
    session_id, password = owner.client_id
    wrong = bytes(b ^ 0xFF for b in password)
    intruder = KazooClient(hosts=target.hosts, client_id=(session_id, wrong), timeout=10.0)
    intruder.start(timeout=15)
    try:
        # The server refuses the session; kazoo takes it as expired and starts a fresh one.
        assert intruder.client_id[0] != session_id
        assert intruder.exists(f"{base}/eph").ephemeralOwner == session_id
    finally:
        intruder.stop()
        intruder.close()
    assert owner.exists(f"{base}/eph") is not None
    assert owner.client_id[0] == session_id


def test_negotiated_timeout_is_clamped_to_server_bounds(target):
    # Defaults: tickTime 2000 gives bounds of 4 s .. 40 s.
    for requested, granted in [(1000, 4000), (10000, 10000), (100000, 40000)]:
        got, session_id, _password, sock = rawzk.handshake(target.port, requested)
        rawzk.close_session(sock)
        assert (requested, got) == (requested, granted)
        assert session_id != 0


def test_wrong_password_is_refused_at_handshake(target):
    _, session_id, password, sock = rawzk.handshake(target.port, 10000)
    try:
        wrong = bytes(b ^ 0xFF for b in password)
        granted, _, _, intruder = rawzk.handshake(target.port, 10000, session_id, wrong)
        # A refused (or expired) session is answered with a zero timeout and closed.
        assert granted == 0
        assert rawzk.closed_by_peer(intruder)
        intruder.close()
        granted, same_id, _, again = rawzk.handshake(target.port, 10000, session_id, password)
        assert (granted, same_id) == (10000, session_id)
        rawzk.close_session(again)
    finally:
        sock.close()
