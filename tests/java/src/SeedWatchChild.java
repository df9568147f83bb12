import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

/**
 * The seed notes' WatchChild (children watched with getChildren(path, true), i.e. through the
 * session's default watcher, which lists the children again on every event), run unattended.
 * The driver session creates the parent, then adds and removes children one at a time; the
 * default watcher must report the initial (empty) list and then every new list in order.
 */
public class SeedWatchChild {
    private static final int SESSION_TIMEOUT = Support.SESSION_TIMEOUT_MS;
    private final String connectString;
    private final String path;
    // Set from main once the constructor returns; the first event may arrive before that.
    private volatile ZooKeeper zk = null;
    private final CountDownLatch handleSet = new CountDownLatch(1);
    /** Every child list the default watcher printed, sorted, in order. */
    private final BlockingQueue<List<String>> shownLists = new LinkedBlockingQueue<>();

    SeedWatchChild(String connectString, String path) {
        this.connectString = connectString;
        this.path = path;
    }

    public ZooKeeper startZK() throws Exception {
        return new ZooKeeper(connectString, SESSION_TIMEOUT, new Watcher() { // the default watcher
            @Override
            public void process(WatchedEvent event) {
                awaitHandle();
                if (event.getType() == EventType.NodeChildrenChanged && event.getPath().equals(path)) {
                    showChildNode(path); // runs on every change of the children
                } else {
                    showChildNode(path); // the connect event: watch the parent, list the initial children
                }
            }
        });
    }

    private void awaitHandle() {
        try {
            handleSet.await(Support.CONNECT_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public void showChildNode(String nodePath) {
        try {
            // true: watch with the default watcher, which calls back here and watches again
            List<String> list = zk.getChildren(nodePath, true);
            Support.log("***********" + list);
            shownLists.add(Support.sorted(new ArrayList<>(list)));
        } catch (KeeperException | InterruptedException e) {
            shownLists.add(List.of("<error: " + e + ">"));
        }
    }

    public ZooKeeper getZk() {
        return zk;
    }

    public void setZk(ZooKeeper zk) {
        this.zk = zk;
        handleSet.countDown();
    }

    public static void main(String[] args) {
        Support.main("SeedWatchChild", args, 60, SeedWatchChild::scenario);
    }

    private static void scenario(String connect) throws Exception {
        String path = Support.uniquePath("atguigu");
        ZooKeeper driver = Support.connect(connect);
        SeedWatchChild watchChild = new SeedWatchChild(connect, path);
        try {
            driver.create(path, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            watchChild.setZk(watchChild.startZK());
            Support.checkEqual(List.of(), Support.next(watchChild.shownLists, "the initial child list"),
                    "children listed on connect");

            expectAfter(watchChild, () -> create(driver, path + "/a"), Arrays.asList("a"));
            expectAfter(watchChild, () -> create(driver, path + "/b"), Arrays.asList("a", "b"));
            expectAfter(watchChild, () -> driver.delete(path + "/a", -1), Arrays.asList("b"));
            expectAfter(watchChild, () -> driver.delete(path + "/b", -1), Arrays.asList());

            // Changing a child's data is not a change of the parent's children.
            create(driver, path + "/c");
            Support.checkEqual(List.of("c"), Support.next(watchChild.shownLists, "list after c"),
                    "children after creating c");
            driver.setData(path + "/c", "x".getBytes(), -1);
            Support.drainEvents(watchChild.getZk());
            Support.checkEqual(null, watchChild.shownLists.poll(),
                    "child list reported after only a child's data changed");
        } finally {
            if (watchChild.getZk() != null) watchChild.getZk().close();
            Support.deleteTree(driver, path);
            driver.close();
        }
    }

    private static void create(ZooKeeper driver, String childPath) throws Exception {
        driver.create(childPath, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
    }

    private static void expectAfter(SeedWatchChild watchChild, Support.ThrowingAction change,
            List<String> expected) throws Exception {
        change.run();
        Support.checkEqual(expected, Support.next(watchChild.shownLists, "child list " + expected),
                "children listed by the default watcher");
    }
}
