import java.util.List;
import java.util.Objects;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.ZKUtil;

/**
 * Shared plumbing of the interop programs: the OK/FAIL protocol, assertions with readable
 * messages, connecting, waiting and cleanup. Every program is run unattended by run.sh, so
 * nothing here may block forever.
 */
final class Support {
    static final int SESSION_TIMEOUT_MS = 10_000;
    static final long CONNECT_TIMEOUT_S = 15;
    /** How long a program waits for one expected event or state change. */
    static final long EVENT_TIMEOUT_S = 10;

    private Support() {}

    /** A failed expectation of a scenario; the message says what was expected and what was seen. */
    static final class CheckFailed extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CheckFailed(String message) {
            super(message);
        }
    }

    @FunctionalInterface
    interface Scenario {
        void run(String connect) throws Exception;
    }

    /**
     * Runs a scenario and exits the JVM: 0 after printing {@code OK name}, 1 after printing
     * {@code FAIL name: reason}. A watchdog fails the program if it outlives {@code timeoutS},
     * so a lost event cannot hang the suite.
     */
    static void main(String name, String[] args, long timeoutS, Scenario scenario) {
        if (args.length != 1) {
            System.out.println("FAIL " + name + ": usage: java " + name + " CONNECT_STRING");
            System.exit(2);
        }
        Thread watchdog = new Thread(() -> {
            try {
                Thread.sleep(TimeUnit.SECONDS.toMillis(timeoutS));
            } catch (InterruptedException e) {
                return;
            }
            System.out.println("FAIL " + name + ": timed out after " + timeoutS + " s");
            Runtime.getRuntime().halt(1);
        }, "watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            scenario.run(args[0]);
        } catch (Throwable e) {
            String reason = e instanceof CheckFailed ? e.getMessage() : e.toString();
            System.out.println("FAIL " + name + ": " + reason);
            if (!(e instanceof CheckFailed)) {
                e.printStackTrace(System.out);
            }
            System.out.flush();
            // Client threads (ZooKeeper, Curator) may be non-daemon; do not wait for them.
            Runtime.getRuntime().halt(1);
        }
        System.out.println("OK " + name);
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    static void log(String message) {
        System.out.println("  " + message);
    }

    static void check(boolean condition, String message) {
        if (!condition) {
            throw new CheckFailed(message);
        }
    }

    static void checkEqual(Object expected, Object actual, String what) {
        if (!Objects.equals(expected, actual)) {
            throw new CheckFailed(what + ": expected <" + expected + "> but was <" + actual + ">");
        }
    }

    /** Runs {@code action} and checks that it fails with the given ZooKeeper error code. */
    static void expectError(KeeperException.Code expected, String what, ThrowingAction action)
            throws Exception {
        try {
            action.run();
        } catch (KeeperException e) {
            checkEqual(expected, e.code(), what + " error code");
            return;
        }
        throw new CheckFailed(what + ": expected KeeperException " + expected + " but it succeeded");
    }

    @FunctionalInterface
    interface ThrowingAction {
        void run() throws Exception;
    }

    /** Polls {@code condition} every 100 ms for up to {@code timeoutS}; fails with {@code what}. */
    static void waitUntil(long timeoutS, String what, BooleanSupplier condition)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutS);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new CheckFailed("timed out after " + timeoutS + " s waiting for " + what);
            }
            Thread.sleep(100);
        }
    }

    /** Takes the next element of {@code queue}, failing after {@link #EVENT_TIMEOUT_S}. */
    static <T> T next(BlockingQueue<T> queue, String what) throws InterruptedException {
        T item = queue.poll(EVENT_TIMEOUT_S, TimeUnit.SECONDS);
        if (item == null) {
            throw new CheckFailed("timed out after " + EVENT_TIMEOUT_S + " s waiting for " + what);
        }
        return item;
    }

    /** Opens a session and waits until it is connected; {@code watcher} also gets every event. */
    static ZooKeeper connect(String connect, Watcher watcher) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(connect, SESSION_TIMEOUT_MS, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
            if (watcher != null) {
                watcher.process(event);
            }
        });
        awaitConnected(zk, connected);
        return zk;
    }

    static ZooKeeper connect(String connect) throws Exception {
        return connect(connect, null);
    }

    static void awaitConnected(ZooKeeper zk, CountDownLatch connected) throws InterruptedException {
        if (!connected.await(CONNECT_TIMEOUT_S, TimeUnit.SECONDS)) {
            zk.close();
            throw new CheckFailed("no SyncConnected within " + CONNECT_TIMEOUT_S + " s");
        }
    }

    /**
     * Returns once every watch event that the server sent to {@code zk} before now has been
     * handed to its watchers. An asynchronous reply is delivered on the same event thread, in
     * order after any notification the server sent earlier, so when its callback has run the
     * earlier events have been processed. Used to assert that an event did NOT happen.
     */
    static void drainEvents(ZooKeeper zk) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        AsyncCallback.StatCallback callback = (rc, path, ctx, stat) -> done.countDown();
        zk.exists("/", false, callback, null);
        if (!done.await(EVENT_TIMEOUT_S, TimeUnit.SECONDS)) {
            throw new CheckFailed("no reply to an asynchronous exists(\"/\") within "
                    + EVENT_TIMEOUT_S + " s");
        }
    }

    /** Deletes {@code path} and everything below it, if it exists. */
    static void deleteTree(ZooKeeper zk, String path) throws Exception {
        if (zk.exists(path, false) != null) {
            ZKUtil.deleteRecursive(zk, path);
        }
    }

    /** A path under the root that no other program (or earlier run) uses. */
    static String uniquePath(String name) {
        return "/" + name + "-" + Long.toHexString(System.nanoTime());
    }

    static String describe(WatchedEvent event) {
        return event.getType() + " " + event.getPath();
    }

    static List<String> sorted(List<String> list) {
        list.sort(null);
        return list;
    }
}
