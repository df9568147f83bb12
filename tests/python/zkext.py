"""Requests the installed kazoo lacks, sent through kazoo's own connection.

kazoo 2.11 has no createContainer / createTTL and no addWatch (persistent watches). These request
records follow zookeeper.jute; kazoo's connection sends anything with `type`, `serialize()` and
`deserialize()`, and maps error codes to its exceptions as usual.
"""

import threading
from collections import namedtuple

from kazoo.protocol.serialization import (
    Create2,
    Watch,
    int_struct,
    long_struct,
    write_string,
)
from kazoo.protocol.states import Callback
from kazoo.security import OPEN_ACL_UNSAFE

# CreateMode flags (ZooDefs / CreateMode.java).
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# AddWatchMode.
PERSISTENT = 0
PERSISTENT_RECURSIVE = 1

# ZooKeeper event types on the wire (Watcher.Event.EventType).
EVENT_NAMES = {1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged", 4: "NodeChildrenChanged"}


def _create_body(path, data, acl, flags):
    body = bytearray()
    body.extend(write_string(path))
    body.extend(int_struct.pack(len(data)) + data)
    body.extend(int_struct.pack(len(acl)))
    for entry in acl:
        body.extend(
            int_struct.pack(entry.perms) + write_string(entry.id.scheme) + write_string(entry.id.id)
        )
    body.extend(int_struct.pack(flags))
    return body


class CreateContainer(namedtuple("CreateContainer", "path data acl")):
    type = 19  # OpCode.createContainer; the reply is a Create2Response

    def serialize(self):
        return _create_body(self.path, self.data, self.acl, CONTAINER)

    deserialize = Create2.deserialize


class CreateTTL(namedtuple("CreateTTL", "path data acl flags ttl")):
    type = 21  # OpCode.createTTL

    def serialize(self):
        body = _create_body(self.path, self.data, self.acl, self.flags)
        body.extend(long_struct.pack(self.ttl))
        return body

    deserialize = Create2.deserialize


class AddWatch(namedtuple("AddWatch", "path mode")):
    type = 106  # OpCode.addWatch; the reply has no body

    def serialize(self):
        return write_string(self.path) + int_struct.pack(self.mode)

    @classmethod
    def deserialize(cls, buffer, offset):
        return True


def _call(client, request):
    result = client.handler.async_result()
    client._call(request, result)
    return result.get(timeout=10)


def create_container(client, path, data=b""):
    """Returns (path, ZnodeStat)."""
    return _call(client, CreateContainer(path, data, OPEN_ACL_UNSAFE))


def create_ttl(client, path, ttl_ms, data=b"", sequential=False):
    flags = PERSISTENT_SEQUENTIAL_WITH_TTL if sequential else PERSISTENT_WITH_TTL
    return _call(client, CreateTTL(path, data, OPEN_ACL_UNSAFE, flags, ttl_ms))


def add_watch(client, path, mode):
    return _call(client, AddWatch(path, mode))


class RawEventRecorder:
    """Records every watch notification a client receives, as (event name, path), including the
    ones of persistent watches that kazoo itself does not know how to route."""

    def __init__(self, client):
        self.events = []
        self._lock = threading.Lock()
        connection = client._connection
        original = connection._read_watch_event

        def recording_read_watch_event(buffer, offset):
            watch, _ = Watch.deserialize(buffer, offset)
            with self._lock:
                self.events.append((EVENT_NAMES.get(watch.type, str(watch.type)), watch.path))
            return original(buffer, offset)

        connection._read_watch_event = recording_read_watch_event

    def take(self):
        with self._lock:
            events, self.events = self.events, []
        return events


def drain_callbacks(client, timeout=10):
    """Waits until kazoo's callback thread has run every watch callback queued so far."""
    done = threading.Event()
    client.handler.dispatch_callback(Callback("watch", done.set, ()))
    assert done.wait(timeout), "kazoo callback thread stalled"


def settle(client):
    """Makes sure every notification caused by writes that already completed (from any client)
    has reached `client` and its callbacks have run: a server sends a notification before any
    later reply on the same connection, so a round trip after the write is a barrier."""
    client.sync("/")
    client.exists("/")
    drain_callbacks(client)
