import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.KeeperException.Code;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.WatcherType;
import org.apache.zookeeper.ZooKeeper;

/**
 * CoreOps sections about watches. Changes are made through {@code zk}; watches are set on a
 * separate session, so notifications cross sessions as they do in real deployments.
 */
final class CoreWatches {
    private CoreWatches() {}

    static void oneTimeWatches(String connect, ZooKeeper zk, String root) throws Exception {
        String path = root + "/once";
        ZooKeeper watching = Support.connect(connect);
        try {
            EventRecorder events = new EventRecorder("one-time watcher");
            Support.checkEqual(null, watching.exists(path, events), "exists() before create");
            CoreOps.create(zk, path, "a");
            events.expect(EventType.NodeCreated, path);

            watching.getData(path, events, null);
            zk.setData(path, "b".getBytes(), -1);
            events.expect(EventType.NodeDataChanged, path);
            zk.setData(path, "c".getBytes(), -1);
            events.expectNone(watching);

            watching.getData(path, events, null);
            watching.getChildren(path, events);
            CoreOps.create(zk, path + "/child", "");
            events.expect(EventType.NodeChildrenChanged, path);
            zk.delete(path + "/child", -1); // the child watch was used up; the data watch stays
            events.expectNone(watching);
            zk.delete(path, -1);
            events.expect(EventType.NodeDeleted, path);
            events.expectNone(watching);
        } finally {
            watching.close();
        }
    }

    static void persistentWatches(String connect, ZooKeeper zk, String root) throws Exception {
        String node = root + "/persistent";
        String tree = root + "/recursive";
        CoreOps.create(zk, node, "");
        CoreOps.create(zk, tree, "");
        ZooKeeper watching = Support.connect(connect);
        try {
            EventRecorder onNode = new EventRecorder("persistent watcher");
            watching.addWatch(node, onNode, AddWatchMode.PERSISTENT);
            zk.setData(node, "1".getBytes(), -1);
            onNode.expect(EventType.NodeDataChanged, node);
            zk.setData(node, "2".getBytes(), -1); // still registered after firing
            onNode.expect(EventType.NodeDataChanged, node);
            CoreOps.create(zk, node + "/child", "");
            onNode.expect(EventType.NodeChildrenChanged, node);
            zk.setData(node + "/child", "x".getBytes(), -1); // not recursive: no event
            onNode.expectNone(watching);
            zk.delete(node + "/child", -1);
            onNode.expect(EventType.NodeChildrenChanged, node);

            EventRecorder onTree = new EventRecorder("recursive watcher");
            watching.addWatch(tree, onTree, AddWatchMode.PERSISTENT_RECURSIVE);
            String child = tree + "/a";
            String grandchild = child + "/b";
            CoreOps.create(zk, child, "");
            onTree.expect(EventType.NodeCreated, child);
            CoreOps.create(zk, grandchild, "");
            onTree.expect(EventType.NodeCreated, grandchild);
            zk.setData(grandchild, "x".getBytes(), -1);
            onTree.expect(EventType.NodeDataChanged, grandchild);
            zk.delete(grandchild, -1);
            onTree.expect(EventType.NodeDeleted, grandchild);
            zk.setData(tree, "y".getBytes(), -1);
            onTree.expect(EventType.NodeDataChanged, tree);
            // Recursive watches report no NodeChildrenChanged events.
            onTree.expectNone(watching);
            onNode.expectNone(watching);

            watching.removeWatches(node, onNode, WatcherType.Any, false);
            onNode.expect(EventType.PersistentWatchRemoved, node);
            zk.setData(node, "3".getBytes(), -1);
            onNode.expectNone(watching);
        } finally {
            watching.close();
        }
    }

    static void removeWatches(String connect, ZooKeeper zk, String root) throws Exception {
        String path = root + "/unwatch";
        CoreOps.create(zk, path, "");
        ZooKeeper watching = Support.connect(connect);
        try {
            EventRecorder events = new EventRecorder("watcher being removed");
            watching.getData(path, events, null);
            watching.getChildren(path, events);
            watching.removeWatches(path, events, WatcherType.Data, false);
            events.expect(EventType.DataWatchRemoved, path);
            zk.setData(path, "x".getBytes(), -1);
            events.expectNone(watching);
            CoreOps.create(zk, path + "/child", ""); // the child watch is still there
            events.expect(EventType.NodeChildrenChanged, path);
            Support.expectError(Code.NOWATCHER, "removeWatches without a watch",
                    () -> watching.removeWatches(path, events, WatcherType.Children, false));

            EventRecorder other = new EventRecorder("watcher removed by removeAllWatches");
            watching.getData(path, other, null);
            watching.getChildren(path, other);
            watching.removeAllWatches(path, WatcherType.Any, false);
            other.expectInAnyOrder(EventType.ChildWatchRemoved + " " + path,
                    EventType.DataWatchRemoved + " " + path);
            zk.setData(path, "y".getBytes(), -1);
            zk.delete(path + "/child", -1);
            other.expectNone(watching);
        } finally {
            watching.close();
        }
    }
}
