import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

/**
 * The seed notes' WatchOne (a one-time data watch), run unattended: the program creates its node
 * with "AAA", reads it with a one-time watcher whose callback re-reads the value WITHOUT watching,
 * and a second session (the driver) changes the value twice. The watcher must fire exactly once
 * and see the first change only.
 */
public class SeedWatchOne {
    private static final int SESSION_TIMEOUT = Support.SESSION_TIMEOUT_MS;
    private final String connectString;
    private final String path;
    private ZooKeeper zk = null;
    /** Values read by trigerValue from inside the watcher callback, in order. */
    private final BlockingQueue<String> triggeredValues = new LinkedBlockingQueue<>();

    SeedWatchOne(String connectString, String path) {
        this.connectString = connectString;
        this.path = path;
    }

    public ZooKeeper startZK() throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper handle = new ZooKeeper(connectString, SESSION_TIMEOUT, new Watcher() {
            @Override
            public void process(WatchedEvent watchedEvent) {
                if (watchedEvent.getState() == Event.KeeperState.SyncConnected) {
                    connected.countDown();
                }
            }
        });
        Support.awaitConnected(handle, connected);
        return handle;
    }

    public void stopZK() throws Exception {
        if (zk != null) zk.close();
    }

    public void createZnode(String nodePath, String nodeValue) throws Exception {
        zk.create(nodePath, nodeValue.getBytes(), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
    }

    public String getZnode(String nodePath) throws Exception {
        byte[] byteArray = zk.getData(nodePath, new Watcher() { // one-time trigger
            @Override
            public void process(WatchedEvent event) {
                try {
                    Support.log("watcher fired: " + Support.describe(event));
                    triggeredValues.add(trigerValue(nodePath));
                } catch (Exception e) {
                    triggeredValues.add("<error: " + e + ">");
                }
            }
        }, new Stat());
        return new String(byteArray);
    }

    public String trigerValue(String nodePath) throws Exception {
        byte[] byteArray = zk.getData(nodePath, false, new Stat());
        return new String(byteArray);
    }

    public ZooKeeper getZk() {
        return zk;
    }

    public void setZk(ZooKeeper zk) {
        this.zk = zk;
    }

    public static void main(String[] args) {
        Support.main("SeedWatchOne", args, 60, SeedWatchOne::scenario);
    }

    private static void scenario(String connect) throws Exception {
        SeedWatchOne watchOne = new SeedWatchOne(connect, Support.uniquePath("atguigu"));
        String path = watchOne.path;
        watchOne.setZk(watchOne.startZK());
        ZooKeeper driver = Support.connect(connect);
        try {
            Support.check(watchOne.getZk().exists(path, false) == null, path + " already exists");
            watchOne.createZnode(path, "AAA");
            String retValue = watchOne.getZnode(path);
            Support.log("retValue=" + retValue);
            Support.checkEqual("AAA", retValue, "initial value");

            driver.setData(path, "BBB".getBytes(), -1);
            Support.checkEqual("BBB", Support.next(watchOne.triggeredValues, "the watch event"),
                    "value read in the watcher after the first change");

            // The watch was one-time: a second change must not reach the watcher.
            driver.setData(path, "CCC".getBytes(), -1);
            Support.checkEqual("CCC", watchOne.trigerValue(path), "value after the second change");
            Support.drainEvents(watchOne.getZk());
            Support.checkEqual(null, watchOne.triggeredValues.poll(),
                    "watcher callback after the second change (one-time watch fired again)");
        } finally {
            watchOne.stopZK();
            Support.deleteTree(driver, path);
            driver.close();
        }
    }
}
