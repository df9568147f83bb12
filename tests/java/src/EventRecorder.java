import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.ZooKeeper;

/** A watcher that records node events (not connection-state events) for in-order assertions. */
final class EventRecorder implements Watcher {
    private final String name;
    private final BlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();

    EventRecorder(String name) {
        this.name = name;
    }

    @Override
    public void process(WatchedEvent event) {
        if (event.getType() != EventType.None) {
            events.add(event);
        }
    }

    /** Checks that the next recorded event is {@code type} on {@code path}. */
    void expect(EventType type, String path) throws InterruptedException {
        String expected = type + " " + path;
        WatchedEvent event = Support.next(events, name + ": " + expected);
        Support.checkEqual(expected, Support.describe(event), name + " event");
    }

    /** Checks that the next {@code expected.length} events are exactly these, in any order. */
    void expectInAnyOrder(String... expected) throws InterruptedException {
        List<String> seen = new ArrayList<>();
        for (String what : expected) {
            seen.add(Support.describe(Support.next(events, name + ": " + what)));
        }
        List<String> wanted = new ArrayList<>(Arrays.asList(expected));
        Support.checkEqual(Support.sorted(wanted), Support.sorted(seen), name + " events");
    }

    /** Checks that no further event has been delivered by {@code zk} so far. */
    void expectNone(ZooKeeper zk) throws InterruptedException {
        Support.drainEvents(zk);
        WatchedEvent extra = events.poll();
        Support.check(extra == null, name + ": unexpected event " + (extra == null ? "" : Support.describe(extra)));
    }
}
