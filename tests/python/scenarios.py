"""Deterministic client scenarios, each run against one server.

Every scenario asserts its own expectations (ZooKeeper's documented behaviour) and returns a
Transcript; the differential test runs each one on ZooKeeper and on arbor and compares them.
`connect()` returns a new connected kazoo client; `base` is a path unique to the run.
"""

import time

from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    InvalidACLError,
    RolledBackError,
    RuntimeInconsistency,
    NoAuthError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.protocol.states import EventType
from kazoo.security import (
    ACL,
    ANYONE_ID_UNSAFE,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_digest_acl,
)

import servers
import zkext
from transcript import Transcript


class EventLog:
    """A watch callback that records the events it receives."""

    def __init__(self):
        self.events = []

    def __call__(self, event):
        self.events.append((event.type, event.path))

    def take(self):
        events, self.events = self.events, []
        return events


def wait_until(predicate, timeout=10.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def crud(connect, base):
    t = Transcript(base)
    zk = connect()
    node = f"{base}/a"
    assert t.call("create base", zk.create, base) == base
    assert t.call("create a", zk.create, node, b"v1") == node
    stat = t.call("exists a", zk.exists, node)
    assert (stat.version, stat.dataLength, stat.numChildren, stat.ephemeralOwner) == (0, 2, 0, 0)
    assert stat.czxid == stat.mzxid == stat.pzxid

    data, stat = t.call("get a", zk.get, node)
    assert data == b"v1" and stat.version == 0

    stat = t.call("set a", zk.set, node, b"value-2")
    assert stat.version == 1 and stat.dataLength == 7 and stat.mzxid > stat.czxid
    assert isinstance(
        t.call("set a, stale version", zk.set, node, b"x", version=0), BadVersionError
    )
    assert t.call("set a, right version", zk.set, node, b"v3", version=1).version == 2

    assert isinstance(t.call("create a again", zk.create, node), NodeExistsError)
    assert isinstance(t.call("create under missing", zk.create, f"{base}/missing/c"), NoNodeError)
    assert isinstance(t.call("set missing", zk.set, f"{base}/missing", b""), NoNodeError)
    assert isinstance(t.call("get missing", zk.get, f"{base}/missing"), NoNodeError)
    assert t.call("exists missing", zk.exists, f"{base}/missing") is None
    assert isinstance(
        t.call("children of missing", zk.get_children, f"{base}/missing"), NoNodeError
    )

    path, stat = t.call("create2 b", zk.create, f"{base}/b", include_data=True)
    assert path == f"{base}/b" and stat.dataLength == 0
    # Child order is unspecified (ZooKeeper returns hash order), so transcripts sort it.
    assert t.record("children", sorted(zk.get_children(base))) == ["a", "b"]
    children, stat = zk.get_children(base, include_data=True)
    t.record("children2", (sorted(children), stat))
    assert stat.numChildren == 2 and stat.cversion == 2 and stat.pzxid > stat.czxid

    assert isinstance(t.call("delete non-empty base", zk.delete, base), NotEmptyError)
    assert isinstance(t.call("delete a, stale", zk.delete, node, version=5), BadVersionError)
    assert t.call("delete a", zk.delete, node, version=2) is True
    assert t.call("exists deleted a", zk.exists, node) is None
    assert isinstance(t.call("delete deleted a", zk.delete, node), NoNodeError)
    stat = t.call("base after delete", zk.exists, base)
    assert (stat.numChildren, stat.cversion, stat.version) == (1, 3, 0)

    every_byte = bytes(range(256)) * 4
    zk.create(f"{base}/bin", every_byte)
    data, stat = t.call("binary round trip", zk.get, f"{base}/bin")
    assert data == every_byte and stat.dataLength == 1024
    t.call("create with trailing slash", zk.create, f"{base}/bad/", b"")
    t.call("create with empty segment", zk.create, f"{base}//bad", b"")
    t.call("sync", zk.sync, base)
    return t


def sequential(connect, base):
    t = Transcript(base)
    zk = connect()
    zk.create(base)
    names = [zk.create(f"{base}/q-", sequence=True) for _ in range(3)]
    t.record("first three", names)
    assert names == [f"{base}/q-{i:010d}" for i in range(3)]
    zk.create(f"{base}/x")
    # The suffix counts every child created under the parent so far (ZooKeeper takes it from the
    # parent's cversion as its request pipeline sees it, where deletes do not count).
    assert (
        t.call("after a plain child", zk.create, f"{base}/q-", sequence=True)
        == f"{base}/q-0000000004"
    )
    zk.delete(f"{base}/q-0000000000")
    # ... while the cversion in the parent's Stat counts deletes too.
    assert t.record("parent cversion after a delete", zk.exists(base)).cversion == 6
    assert (
        t.call("after a delete", zk.create, f"{base}/q-", sequence=True) == f"{base}/q-0000000005"
    )
    assert t.call("no prefix", zk.create, f"{base}/", sequence=True) == f"{base}/0000000006"
    eph = t.call("ephemeral sequential", zk.create, f"{base}/e-", ephemeral=True, sequence=True)
    assert eph == f"{base}/e-0000000007"
    assert zk.exists(eph).ephemeralOwner == zk.client_id[0]
    children = t.record("children", sorted(zk.get_children(base)))
    assert children == [
        "0000000006",
        "e-0000000007",
        "q-0000000001",
        "q-0000000002",
        "q-0000000004",
        "q-0000000005",
        "x",
    ]
    assert zk.exists(base).cversion == 9
    t.record("parent", zk.exists(base))
    return t


def ephemeral(connect, base):
    t = Transcript(base)
    observer, owner = connect(), connect()
    observer.create(base)
    node = f"{base}/e"
    owner.create(node, b"alive", ephemeral=True)
    stat = t.call("observer sees ephemeral", observer.exists, node)
    assert stat.ephemeralOwner == owner.client_id[0] != observer.client_id[0]
    t.record("owner is the creating session", stat.ephemeralOwner == owner.client_id[0])
    assert isinstance(
        t.call("child of ephemeral", owner.create, f"{node}/child"), NoChildrenForEphemeralsError
    )
    owner.create(f"{base}/seq-", ephemeral=True, sequence=True)
    owner.create(f"{base}/persistent")

    events = EventLog()
    observer.exists(node, watch=events)
    owner.stop()
    owner.close()
    zkext.settle(observer)
    assert events.take() == [(EventType.DELETED, node)]
    t.record("after owner closed", observer.get_children(base))
    assert observer.get_children(base) == ["persistent"]
    t.record("parent", observer.exists(base))
    return t


def one_time_watches(connect, base):
    t = Transcript(base)
    watcher, writer = connect(), connect()
    watcher.create(base)
    node = f"{base}/n"
    watcher.create(node, b"0")

    data_events = EventLog()
    watcher.get(node, watch=data_events)
    writer.set(node, b"1")
    writer.set(node, b"2")
    zkext.settle(watcher)
    assert t.record("data watch fires once", data_events.take()) == [(EventType.CHANGED, node)]

    exists_events = EventLog()
    assert watcher.exists(f"{base}/later", watch=exists_events) is None
    writer.create(f"{base}/later")
    writer.delete(f"{base}/later")
    zkext.settle(watcher)
    assert t.record("exists watch on absent node", exists_events.take()) == [
        (EventType.CREATED, f"{base}/later")
    ]

    child_events = EventLog()
    watcher.get_children(base, watch=child_events)
    writer.create(f"{base}/c1")
    writer.create(f"{base}/c2")
    writer.set(base, b"data changes are not child events")
    zkext.settle(watcher)
    assert t.record("child watch fires once", child_events.take()) == [(EventType.CHILD, base)]

    child_events_2 = EventLog()
    watcher.get_children(base, watch=child_events_2)
    writer.set(f"{base}/c1", b"grandchild data does not count")
    zkext.settle(watcher)
    assert child_events_2.take() == []
    writer.delete(f"{base}/c1")
    zkext.settle(watcher)
    assert t.record("child watch on delete", child_events_2.take()) == [(EventType.CHILD, base)]

    deleted_data, deleted_children = EventLog(), EventLog()
    watcher.get(node, watch=deleted_data)
    watcher.get_children(node, watch=deleted_children)
    writer.delete(node)
    zkext.settle(watcher)
    assert t.record("delete fires data watch", deleted_data.take()) == [(EventType.DELETED, node)]
    assert t.record("delete fires child watch", deleted_children.take()) == [
        (EventType.DELETED, node)
    ]

    # A client's own write: the notification arrives before the write's reply.
    recorder = zkext.RawEventRecorder(watcher)
    watcher.create(node, b"again")
    watcher.get(node, watch=EventLog())
    watcher.set(node, b"mine")
    seen_before_reply = recorder.take()
    assert t.record("event before own reply", seen_before_reply) == [("NodeDataChanged", node)]
    return t


def kazoo_watchers(connect, base):
    t = Transcript(base)
    watcher, writer = connect(), connect()
    watcher.create(base)
    node = f"{base}/d"
    data_calls, children_calls = [], []
    watcher.DataWatch(node)(
        lambda data, stat: data_calls.append(None if stat is None else (data, stat.version))
    )
    watcher.ChildrenWatch(base)(lambda children: children_calls.append(sorted(children)))

    def step(label, action, expected_data, expected_children):
        action()
        # The watchers re-read and re-arm on kazoo's callback thread, which may issue more
        # requests; two barriers let those finish too.
        zkext.settle(watcher)
        zkext.settle(watcher)
        t.record(label, {"data": list(data_calls), "children": list(children_calls)})
        assert (data_calls, children_calls) == (expected_data, expected_children), label
        data_calls.clear()
        children_calls.clear()

    step("initial", lambda: None, [None], [[]])
    step("create", lambda: writer.create(node, b"1"), [(b"1", 0)], [["d"]])
    step("set", lambda: writer.set(node, b"22"), [(b"22", 1)], [])
    step("other child", lambda: writer.create(f"{base}/other"), [], [["d", "other"]])
    step("delete", lambda: writer.delete(node), [None], [["other"]])
    return t


def persistent_watches(connect, base):
    t = Transcript(base)
    watcher, writer = connect(), connect()
    watcher.create(base)
    recorder = zkext.RawEventRecorder(watcher)
    p, r = f"{base}/p", f"{base}/r"
    t.call("add persistent", zkext.add_watch, watcher, p, zkext.PERSISTENT)
    t.call("add recursive", zkext.add_watch, watcher, r, zkext.PERSISTENT_RECURSIVE)

    def step(label, action, expected):
        action()
        zkext.settle(watcher)
        events = recorder.take()
        t.record(label, events)
        assert events == expected, label

    step("create p", lambda: writer.create(p), [("NodeCreated", p)])
    step("set p", lambda: writer.set(p, b"1"), [("NodeDataChanged", p)])
    step("set p again", lambda: writer.set(p, b"2"), [("NodeDataChanged", p)])
    step("child of p", lambda: writer.create(f"{p}/c"), [("NodeChildrenChanged", p)])
    step("set child of p", lambda: writer.set(f"{p}/c", b"x"), [])
    step("delete child of p", lambda: writer.delete(f"{p}/c"), [("NodeChildrenChanged", p)])
    step("delete p", lambda: writer.delete(p), [("NodeDeleted", p)])
    step("recreate p", lambda: writer.create(p), [("NodeCreated", p)])

    step("create r", lambda: writer.create(r), [("NodeCreated", r)])
    step(
        "create r/a/b",
        lambda: writer.create(f"{r}/a/b", makepath=True),
        [("NodeCreated", f"{r}/a"), ("NodeCreated", f"{r}/a/b")],
    )
    step("set r/a/b", lambda: writer.set(f"{r}/a/b", b"v"), [("NodeDataChanged", f"{r}/a/b")])
    step("delete r/a/b", lambda: writer.delete(f"{r}/a/b"), [("NodeDeleted", f"{r}/a/b")])
    step("sibling outside r", lambda: writer.create(f"{base}/r2"), [])
    return t


def transactions(connect, base):
    t = Transcript(base)
    zk = connect()
    zk.create(base)
    m1, m2 = f"{base}/m1", f"{base}/m2"

    tx = zk.transaction()
    tx.create(m1, b"a")
    tx.create(m2)
    tx.set_data(m1, b"b")
    tx.check(m2, 0)
    tx.delete(m2)
    results = t.record("successful multi", tx.commit())
    assert results[:2] == [m1, m2] and results[3:] == [True, True]
    assert results[2].version == 1
    assert t.record("m1 after", zk.get(m1))[0] == b"b"
    assert zk.exists(m2) is None

    tx = zk.transaction()
    tx.create(f"{base}/f1")
    tx.check(m1, 99)
    tx.create(f"{base}/f2")
    results = t.record("failed check", tx.commit())
    # Ops before the failing one are rolled back, ops after it were never tried.
    assert [type(r) for r in results] == [RolledBackError, BadVersionError, RuntimeInconsistency]
    assert zk.exists(f"{base}/f1") is None

    tx = zk.transaction()
    tx.set_data(m1, b"c")
    tx.create(m1)
    results = t.record("failed create", tx.commit())
    assert isinstance(results[1], NodeExistsError)
    assert zk.get(m1)[0] == b"b"

    tx = zk.transaction()
    tx.delete(f"{base}/nothing")
    results = t.record("failed delete", tx.commit())
    assert isinstance(results[0], NoNodeError)

    tx = zk.transaction()
    tx.create(f"{base}/seq-", sequence=True)
    tx.create(f"{base}/seq-", sequence=True)
    results = t.record("sequential in multi", tx.commit())
    # Two creates so far (m1, m2); failed multis created nothing.
    assert results == [f"{base}/seq-0000000002", f"{base}/seq-0000000003"], results
    t.record("parent", zk.exists(base))
    return t


def acls(connect, base):
    t = Transcript(base)
    alice = connect(auth_data=[("digest", "alice:secret")])
    anonymous = connect()
    bob = connect(auth_data=[("digest", "bob:pw")])
    root = connect(auth_data=[("digest", f"{servers.SUPER_USER}:{servers.SUPER_PASSWORD}")])
    alice.create(base)

    private = f"{base}/private"
    alice.create(private, b"secret", acl=[make_digest_acl("alice", "secret", all=True)])
    acl, stat = t.call("private acl", alice.get_acls, private)
    assert [(a.perms, a.id.scheme, a.id.id) for a in acl] == [
        (Permissions.ALL, "digest", servers.digest("alice", "secret"))
    ]
    assert isinstance(t.call("anonymous reads private", anonymous.get, private), NoAuthError)
    assert isinstance(
        t.call("anonymous lists private", anonymous.get_children, private), NoAuthError
    )
    assert t.call("anonymous exists private", anonymous.exists, private) is not None
    assert isinstance(t.call("bob reads private", bob.get, private), NoAuthError)
    assert t.call("alice reads private", alice.get, private)[0] == b"secret"
    assert t.call("super reads private", root.get, private)[0] == b"secret"
    assert t.call("super writes private", root.set, private, b"by super").version == 1

    read_only = f"{base}/ro"
    alice.create(read_only, b"public", acl=READ_ACL_UNSAFE)
    assert t.call("anonymous reads ro", anonymous.get, read_only)[0] == b"public"
    assert isinstance(t.call("anonymous writes ro", anonymous.set, read_only, b"x"), NoAuthError)
    assert isinstance(t.call("alice writes ro", alice.set, read_only, b"x"), NoAuthError)
    assert isinstance(t.call("child of ro", anonymous.create, f"{read_only}/c"), NoAuthError)
    # Deleting needs DELETE on the parent (open here), not any permission on the node itself.
    assert t.call("delete ro via open parent", anonymous.delete, read_only) is True

    auth_node = f"{base}/auth"
    alice.create(auth_node, acl=[ACL(Permissions.ALL, Id("auth", ""))])
    acl, _ = t.call("auth scheme expands to digest", alice.get_acls, auth_node)
    assert [(a.id.scheme, a.id.id) for a in acl] == [("digest", servers.digest("alice", "secret"))]
    assert isinstance(
        t.call(
            "auth scheme without auth",
            anonymous.create,
            f"{base}/noauth",
            acl=[ACL(Permissions.ALL, Id("auth", ""))],
        ),
        InvalidACLError,
    )
    assert isinstance(
        t.call(
            "malformed digest id",
            alice.create,
            f"{base}/bad",
            acl=[ACL(Permissions.ALL, Id("digest", "no-colon"))],
        ),
        InvalidACLError,
    )

    ip_node = f"{base}/ip"
    alice.create(ip_node, b"ip", acl=[ACL(Permissions.READ, Id("ip", "127.0.0.1"))])
    assert t.call("ip acl allows loopback", anonymous.get, ip_node)[0] == b"ip"

    open_node = f"{base}/open"
    alice.create(open_node)
    assert isinstance(
        t.call("setACL stale version", alice.set_acls, open_node, READ_ACL_UNSAFE, version=3),
        BadVersionError,
    )
    stat = t.call("setACL", alice.set_acls, open_node, READ_ACL_UNSAFE, version=0)
    assert stat.aversion == 1 and stat.version == 0
    assert isinstance(t.call("write after setACL", alice.set, open_node, b"x"), NoAuthError)
    t.call("world acl", anonymous.get_acls, open_node)
    assert OPEN_ACL_UNSAFE[0].id == ANYONE_ID_UNSAFE
    return t


def containers_and_ttl(connect, base):
    t = Transcript(base)
    zk = connect()
    zk.create(base)
    container, unused = f"{base}/container", f"{base}/unused"
    path, stat = t.call("create container", zkext.create_container, zk, container, b"c")
    assert path == container and stat.ephemeralOwner == 0
    zkext.create_container(zk, unused)
    zk.create(f"{container}/child")
    zk.delete(f"{container}/child")
    assert wait_until(lambda: zk.exists(container) is None), "emptied container was not deleted"
    t.record("emptied container is deleted", zk.exists(container))
    # Containers that never had a child are kept (ZooKeeper reaps only used ones).
    t.record("never-used container is kept", zk.exists(unused))
    assert zk.exists(unused) is not None

    ttl_node = f"{base}/ttl"
    path, stat = t.call("create ttl", zkext.create_ttl, zk, ttl_node, 500, b"t")
    assert path == ttl_node
    seq, _ = t.call(
        "create ttl sequential", zkext.create_ttl, zk, f"{base}/ttl-", 500, sequential=True
    )
    assert seq.startswith(f"{base}/ttl-")
    assert isinstance(
        t.call("ttl of zero", zkext.create_ttl, zk, f"{base}/zero", 0), BadArgumentsError
    )
    assert wait_until(lambda: zk.exists(ttl_node) is None), "expired TTL node was not deleted"
    t.record("expired ttl node is deleted", zk.exists(ttl_node))
    return t


# Scenarios whose transcripts must be equal on ZooKeeper and arbor.
DIFFERENTIAL = {
    "crud": crud,
    "sequential": sequential,
    "ephemeral": ephemeral,
    "one_time_watches": one_time_watches,
    "kazoo_watchers": kazoo_watchers,
    "persistent_watches": persistent_watches,
    "transactions": transactions,
    "acls": acls,
    "containers_and_ttl": containers_and_ttl,
}
