"""Transcripts of scenarios, normalized so that two servers can be compared.

Dropped: zxids, times and session ids (they differ between any two runs). Kept: versions,
cversion, aversion, dataLength, numChildren, whether a node is ephemeral, how the zxids relate
(modified since creation, children changed since creation), errors, results and watch events.
Paths are made relative to the scenario's base path, which is unique per run.
"""

from kazoo.protocol.states import WatchedEvent, ZnodeStat
from kazoo.security import ACL


def normalize_stat(stat):
    return {
        "version": stat.version,
        "cversion": stat.cversion,
        "aversion": stat.aversion,
        "dataLength": stat.dataLength,
        "numChildren": stat.numChildren,
        "ephemeral": stat.ephemeralOwner != 0,
        "modified": stat.mzxid != stat.czxid,
        "children_changed": stat.pzxid != stat.czxid,
    }


class Transcript:
    """An ordered list of (label, normalized value) entries."""

    def __init__(self, base):
        self.base = base
        self.entries = []

    def normalize(self, value):
        if isinstance(value, ZnodeStat):
            return normalize_stat(value)
        if isinstance(value, WatchedEvent):
            return ("event", value.type, self.normalize(value.path))
        if isinstance(value, ACL):
            return ("acl", value.perms, value.id.scheme, value.id.id)
        if isinstance(value, BaseException):
            return ("error", type(value).__name__)
        if isinstance(value, str):
            return value.replace(self.base, "<base>") if self.base else value
        if isinstance(value, bytes):
            return ("bytes", len(value), value[:64])
        if isinstance(value, (list, tuple)):
            return [self.normalize(v) for v in value]
        if isinstance(value, dict):
            return {k: self.normalize(v) for k, v in value.items()}
        return value

    def record(self, label, value):
        normalized = self.normalize(value)
        self.entries.append((label, normalized))
        return value

    def call(self, label, fn, *args, **kwargs):
        """Records fn's result, or the error it raised (and returns it instead of raising)."""
        try:
            result = fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - errors are what is being recorded
            self.record(label, e)
            return e
        self.record(label, result)
        return result

    def __iter__(self):
        return iter(self.entries)


def first_difference(left, right):
    """A readable description of where two transcripts first differ, or None."""
    for index, (a, b) in enumerate(zip(left.entries, right.entries)):
        if a != b:
            return f"entry {index}:\n  zookeeper: {a}\n  arbor:     {b}"
    if len(left.entries) != len(right.entries):
        shorter = min(len(left.entries), len(right.entries))
        extra = (left.entries if len(left.entries) > shorter else right.entries)[shorter:]
        return f"lengths differ ({len(left.entries)} vs {len(right.entries)}); extra: {extra[:3]}"
    return None
