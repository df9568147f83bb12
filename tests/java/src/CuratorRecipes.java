import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;
import org.apache.zookeeper.data.Stat;

/**
 * Apache Curator 5 recipes against the target, each with two independent clients (sessions):
 * InterProcessMutex, LeaderLatch and curator-x-discovery's ServiceDiscovery.
 */
public class CuratorRecipes {
    private static final int CONNECTION_TIMEOUT_MS = 15_000;

    public static void main(String[] args) {
        Support.main("CuratorRecipes", args, 90, CuratorRecipes::scenario);
    }

    private static void scenario(String connect) throws Exception {
        String base = Support.uniquePath("java-curator");
        CuratorFramework first = startClient(connect);
        CuratorFramework second = startClient(connect);
        try {
            Support.log("-- InterProcessMutex");
            mutex(first, second, base + "/lock");
            Support.log("-- LeaderLatch");
            leaderLatch(first, second, base + "/leader");
            Support.log("-- ServiceDiscovery");
            serviceDiscovery(first, second, base + "/services");
        } finally {
            if (first.checkExists().forPath(base) != null) {
                first.delete().deletingChildrenIfNeeded().forPath(base);
            }
            first.close();
            second.close();
        }
    }

    private static CuratorFramework startClient(String connect) throws InterruptedException {
        CuratorFramework client = CuratorFrameworkFactory.newClient(connect,
                Support.SESSION_TIMEOUT_MS, CONNECTION_TIMEOUT_MS, new ExponentialBackoffRetry(200, 3));
        client.start();
        Support.check(client.blockUntilConnected((int) Support.CONNECT_TIMEOUT_S, TimeUnit.SECONDS),
                "Curator client did not connect within " + Support.CONNECT_TIMEOUT_S + " s");
        return client;
    }

    private static void mutex(CuratorFramework first, CuratorFramework second, String path)
            throws Exception {
        InterProcessMutex firstLock = new InterProcessMutex(first, path);
        InterProcessMutex secondLock = new InterProcessMutex(second, path);
        AtomicInteger holders = new AtomicInteger();

        Support.check(firstLock.acquire(Support.EVENT_TIMEOUT_S, TimeUnit.SECONDS),
                "first client could not take the free lock");
        Support.checkEqual(1, holders.incrementAndGet(), "lock holders after the first acquire");
        Support.check(!secondLock.acquire(300, TimeUnit.MILLISECONDS),
                "second client acquired the lock while the first held it");
        Support.checkEqual(1, firstLock.getParticipantNodes().size(),
                "lock nodes after the second client's acquire timed out");

        // InterProcessMutex is owned per thread, so the second client waits on its own thread.
        CountDownLatch secondAcquired = new CountDownLatch(1);
        AtomicReference<String> secondProblem = new AtomicReference<>();
        Thread waiter = new Thread(() -> {
            try {
                if (!secondLock.acquire(Support.EVENT_TIMEOUT_S, TimeUnit.SECONDS)) {
                    secondProblem.set("second client never got the released lock");
                    return;
                }
                int seen = holders.incrementAndGet();
                if (seen != 1) {
                    secondProblem.set("lock held by " + seen + " clients at once");
                }
                secondAcquired.countDown();
                holders.decrementAndGet();
                secondLock.release();
            } catch (Exception e) {
                secondProblem.set("second client failed: " + e);
            }
        }, "second-lock-client");
        waiter.start();
        Support.check(!secondAcquired.await(500, TimeUnit.MILLISECONDS),
                "second client acquired the lock before the first released it");
        Support.checkEqual(null, secondProblem.get(), "second client");

        holders.decrementAndGet();
        firstLock.release();
        waiter.join(TimeUnit.SECONDS.toMillis(Support.EVENT_TIMEOUT_S + 5));
        Support.checkEqual(null, secondProblem.get(), "second client");
        Support.checkEqual(0L, secondAcquired.getCount(), "second client's acquisitions pending");
        Support.check(!firstLock.isAcquiredInThisProcess(), "first lock still marked as held");
        Support.check(firstLock.acquire(Support.EVENT_TIMEOUT_S, TimeUnit.SECONDS),
                "first client could not re-take the lock after the second released it");
        firstLock.release();
    }

    private static void leaderLatch(CuratorFramework first, CuratorFramework second, String path)
            throws Exception {
        LeaderLatch one = new LeaderLatch(first, path, "participant-1");
        LeaderLatch two = new LeaderLatch(second, path, "participant-2");
        one.start();
        two.start();
        try {
            Support.waitUntil(Support.EVENT_TIMEOUT_S, "a leader to be elected",
                    () -> one.hasLeadership() || two.hasLeadership());
            Support.check(one.hasLeadership() != two.hasLeadership(),
                    "both participants claim leadership");
            LeaderLatch leader = one.hasLeadership() ? one : two;
            LeaderLatch follower = leader == one ? two : one;
            Support.log("leader is " + leader.getId());
            Support.waitUntil(Support.EVENT_TIMEOUT_S, "both participants to be registered",
                    () -> participantIds(follower).size() == 2);
            Support.checkEqual(Arrays.asList("participant-1", "participant-2"),
                    participantIds(follower), "participants");
            Support.checkEqual(leader.getId(), follower.getLeader().getId(), "leader seen by the follower");
            Support.check(follower.getLeader().isLeader(), "getLeader() is not marked as leader");

            leader.close();
            Support.check(follower.await(Support.EVENT_TIMEOUT_S, TimeUnit.SECONDS),
                    "leadership did not move to " + follower.getId() + " after the leader closed");
            Support.checkEqual(List.of(follower.getId()), participantIds(follower),
                    "participants after the leader closed");
            Support.checkEqual(follower.getId(), follower.getLeader().getId(), "new leader");
        } finally {
            closeQuietly(one);
            closeQuietly(two);
        }
    }

    private static List<String> participantIds(LeaderLatch latch) {
        try {
            Collection<Participant> participants = latch.getParticipants();
            List<String> ids = new ArrayList<>();
            for (Participant p : participants) {
                ids.add(p.getId());
            }
            return Support.sorted(ids);
        } catch (Exception e) {
            throw new Support.CheckFailed("getParticipants failed: " + e);
        }
    }

    private static void closeQuietly(LeaderLatch latch) {
        if (latch.getState() == LeaderLatch.State.STARTED) {
            try {
                latch.close();
            } catch (Exception e) {
                Support.log("closing " + latch.getId() + ": " + e);
            }
        }
    }

    private static void serviceDiscovery(CuratorFramework first, CuratorFramework second,
            String basePath) throws Exception {
        ServiceDiscovery<ServicePayload> registry = discovery(first, basePath);
        ServiceDiscovery<ServicePayload> reader = discovery(second, basePath);
        try {
            ServiceInstance<ServicePayload> eu = instance("10.0.0.1", 8080, new ServicePayload("eu", 3));
            ServiceInstance<ServicePayload> us = instance("10.0.0.2", 8081, new ServicePayload("us", 5));
            registry.registerService(eu);
            registry.registerService(us);

            Support.check(reader.queryForNames().contains("orders"),
                    "queryForNames: " + reader.queryForNames());
            Map<String, ServiceInstance<ServicePayload>> found = byId(reader.queryForInstances("orders"));
            Support.checkEqual(2, found.size(), "instances registered");
            for (ServiceInstance<ServicePayload> expected : List.of(eu, us)) {
                ServiceInstance<ServicePayload> actual = found.get(expected.getId());
                Support.check(actual != null, "instance " + expected.getId() + " not found: " + found);
                Support.checkEqual(expected.getAddress(), actual.getAddress(), "instance address");
                Support.checkEqual(expected.getPort(), actual.getPort(), "instance port");
                Support.checkEqual(expected.getPayload(), actual.getPayload(), "instance payload");
            }
            // Dynamic instances are ephemeral nodes of the registering session.
            Stat node = second.checkExists().forPath(basePath + "/orders/" + eu.getId());
            Support.check(node != null, "no znode for instance " + eu.getId());
            Support.checkEqual(first.getZookeeperClient().getZooKeeper().getSessionId(),
                    node.getEphemeralOwner(), "ephemeralOwner of an instance node");

            registry.unregisterService(eu);
            Collection<ServiceInstance<ServicePayload>> left = reader.queryForInstances("orders");
            Support.checkEqual(List.of(us.getId()), new ArrayList<>(byId(left).keySet()),
                    "instances after unregistering one");
            Support.checkEqual(null, reader.queryForInstance("orders", eu.getId()),
                    "query for the unregistered instance");
            Support.checkEqual("10.0.0.2", reader.queryForInstance("orders", us.getId()).getAddress(),
                    "query for the remaining instance");
        } finally {
            registry.close();
            reader.close();
        }
    }

    private static ServiceDiscovery<ServicePayload> discovery(CuratorFramework client, String basePath)
            throws Exception {
        ServiceDiscovery<ServicePayload> discovery = ServiceDiscoveryBuilder.builder(ServicePayload.class)
                .client(client)
                .basePath(basePath)
                .serializer(new JsonInstanceSerializer<>(ServicePayload.class))
                .build();
        discovery.start();
        return discovery;
    }

    private static ServiceInstance<ServicePayload> instance(String address, int port,
            ServicePayload payload) throws Exception {
        return ServiceInstance.<ServicePayload>builder()
                .name("orders")
                .address(address)
                .port(port)
                .payload(payload)
                .build();
    }

    private static Map<String, ServiceInstance<ServicePayload>> byId(
            Collection<ServiceInstance<ServicePayload>> instances) {
        Map<String, ServiceInstance<ServicePayload>> map = new HashMap<>();
        for (ServiceInstance<ServicePayload> instance : instances) {
            map.put(instance.getId(), instance);
        }
        return map;
    }

    /** The custom payload of a registered instance, stored as JSON by Curator. */
    public static final class ServicePayload {
        private String region;
        private int weight;

        public ServicePayload() {}

        ServicePayload(String region, int weight) {
            this.region = region;
            this.weight = weight;
        }

        public String getRegion() {
            return region;
        }

        public void setRegion(String region) {
            this.region = region;
        }

        public int getWeight() {
            return weight;
        }

        public void setWeight(int weight) {
            this.weight = weight;
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof ServicePayload
                    && Objects.equals(region, ((ServicePayload) other).region)
                    && weight == ((ServicePayload) other).weight;
        }

        @Override
        public int hashCode() {
            return Objects.hash(region, weight);
        }

        @Override
        public String toString() {
            return "ServicePayload{region=" + region + ", weight=" + weight + "}";
        }
    }
}
