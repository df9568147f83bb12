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
 * The seed notes' WatchMore (a data watch re-registered in its own callback, i.e. a continuous
 * watch), run unattended. The driver session changes the value to BBB, CCC, DDD and then writes
 * DDD again; after each write it waits for the watcher to report, so every change is observed:
 * three "changed" outcomes followed by one "no changes" outcome.
 */
public class SeedWatchMore {
    private static final int SESSION_TIMEOUT = Support.SESSION_TIMEOUT_MS;
    private final String connectString;
    private final String path;
    private ZooKeeper zk = null;
    private String oldValue = null;
    /** What each trigerValue call concluded: "changed OLD->NEW" or "no changes NEW". */
    private final BlockingQueue<String> outcomes = new LinkedBlockingQueue<>();

    SeedWatchMore(String connectString, String path) {
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
        byte[] byteArray = zk.getData(nodePath, new Watcher() { // one-time trigger...
            @Override
            public void process(WatchedEvent event) {
                try {
                    trigerValue(nodePath); // ...which re-registers itself from here on
                } catch (Exception e) {
                    outcomes.add("<error: " + e + ">");
                }
            }
        }, new Stat());
        String result = new String(byteArray);
        oldValue = result; // the initial value
        return result;
    }

    // Runs every time the watched node changes, and watches it again.
    public boolean trigerValue(String nodePath) throws Exception {
        byte[] byteArray = zk.getData(nodePath, new Watcher() {
            @Override
            public void process(WatchedEvent watchedEvent) {
                try {
                    trigerValue(nodePath);
                } catch (Exception e) {
                    outcomes.add("<error: " + e + ">");
                }
            }
        }, new Stat());
        String newValue = new String(byteArray);
        if (oldValue.equals(newValue)) {
            Support.log("*********no changes");
            outcomes.add("no changes " + newValue);
            return false;
        } else {
            Support.log("************oldValue:" + oldValue + "\t newValue:" + newValue);
            outcomes.add("changed " + oldValue + "->" + newValue);
            oldValue = newValue;
            return true;
        }
    }

    public ZooKeeper getZk() {
        return zk;
    }

    public void setZk(ZooKeeper zk) {
        this.zk = zk;
    }

    public String getOldValue() {
        return oldValue;
    }

    public static void main(String[] args) {
        Support.main("SeedWatchMore", args, 60, SeedWatchMore::scenario);
    }

    private static void scenario(String connect) throws Exception {
        SeedWatchMore watchMore = new SeedWatchMore(connect, Support.uniquePath("atguigu"));
        String path = watchMore.path;
        watchMore.setZk(watchMore.startZK());
        ZooKeeper driver = Support.connect(connect);
        try {
            Support.check(watchMore.getZk().exists(path, false) == null, path + " already exists");
            watchMore.createZnode(path, "AAA");
            String retValue = watchMore.getZnode(path);
            Support.log("retValue=" + retValue);
            Support.checkEqual("AAA", retValue, "initial value");

            String previous = "AAA";
            for (String value : new String[] {"BBB", "CCC", "DDD"}) {
                driver.setData(path, value.getBytes(), -1);
                Support.checkEqual("changed " + previous + "->" + value,
                        Support.next(watchMore.outcomes, "the watch event for " + value),
                        "outcome of setting " + value);
                previous = value;
            }
            // Writing the same bytes is still a change of the node (its version moves on).
            driver.setData(path, "DDD".getBytes(), -1);
            Support.checkEqual("no changes DDD",
                    Support.next(watchMore.outcomes, "the watch event for DDD again"),
                    "outcome of setting DDD again");
            Support.checkEqual("DDD", watchMore.getOldValue(), "last value seen by the watcher");

            Support.drainEvents(watchMore.getZk());
            Support.checkEqual(null, watchMore.outcomes.poll(), "unexpected extra watcher outcome");
        } finally {
            watchMore.stopZK();
            Support.deleteTree(driver, path);
            driver.close();
        }
    }
}
