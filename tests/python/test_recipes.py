"""kazoo's recipes, which combine ephemeral-sequential nodes, watches and versioned writes."""

import threading

import pytest
from kazoo.exceptions import LockTimeout

from scenarios import wait_until


def test_lock_with_two_contenders(connect, base):
    first, second = connect(), connect()
    lock_a = first.Lock(f"{base}/lock", "a")
    lock_b = second.Lock(f"{base}/lock", "b")
    order = []
    assert lock_a.acquire(timeout=10)
    order.append("a acquired")

    def contend():
        if lock_b.acquire(timeout=20):
            order.append("b acquired")
            lock_b.release()

    thread = threading.Thread(target=contend)
    thread.start()
    assert wait_until(lambda: lock_a.contenders() == ["a", "b"]), lock_a.contenders()
    assert order == ["a acquired"], "b must wait while a holds the lock"
    order.append("a releasing")
    lock_a.release()
    thread.join(timeout=20)
    assert order == ["a acquired", "a releasing", "b acquired"]


def test_lock_is_released_when_holder_session_closes(connect, base):
    holder, waiter = connect(), connect()
    assert holder.Lock(f"{base}/lock", "holder").acquire(timeout=10)
    lock = waiter.Lock(f"{base}/lock", "waiter")
    with pytest.raises(LockTimeout):
        lock.acquire(timeout=0.5)
    holder.stop()
    assert lock.acquire(timeout=10)
    lock.release()


def test_election_moves_to_the_next_candidate(connect, base):
    clients = {"a": connect(), "b": connect()}
    leaders = []
    step_down = {name: threading.Event() for name in clients}
    elections = {name: c.Election(f"{base}/election", name) for name, c in clients.items()}

    def lead(name):
        leaders.append(name)
        step_down[name].wait(20)

    threads = []
    for name in ["a", "b"]:
        thread = threading.Thread(target=elections[name].run, args=(lead, name))
        thread.start()
        threads.append(thread)
        if name == "a":
            assert wait_until(lambda: leaders == ["a"]), leaders
    assert wait_until(lambda: len(elections["a"].contenders()) == 2)
    assert elections["a"].contenders() == ["a", "b"]
    assert leaders == ["a"]
    step_down["a"].set()
    assert wait_until(lambda: leaders == ["a", "b"]), leaders
    step_down["b"].set()
    for thread in threads:
        thread.join(timeout=20)
    assert elections["a"].contenders() == []


def test_counter_with_concurrent_increments(connect, base):
    clients = [connect(), connect()]
    counters = [c.Counter(f"{base}/counter") for c in clients]

    def bump(counter):
        for _ in range(20):
            counter += 1  # noqa: PLW2901 - the recipe's += writes to ZooKeeper

    threads = [threading.Thread(target=bump, args=(c,)) for c in counters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert counters[0].value == 40
    counters[1] -= 5
    assert counters[0].value == 35
