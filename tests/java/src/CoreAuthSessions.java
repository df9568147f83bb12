import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.KeeperException.Code;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

/** CoreOps sections about session-scoped state: ephemerals, identities and ACLs, resumption. */
final class CoreAuthSessions {
    /** Requested for the session that is resumed; ZooKeeper's minimum with tickTime=2000. */
    private static final int SHORT_SESSION_TIMEOUT_MS = 4000;
    /**
     * Requested by the resuming handle: generous, so that a slow (loaded) test machine cannot
     * make the resumed session miss its pings while the test outlives the short timeout.
     */
    private static final int RESUMED_SESSION_TIMEOUT_MS = 10_000;

    private CoreAuthSessions() {}

    static void ephemeralsAndCounts(String connect, ZooKeeper zk, String root) throws Exception {
        String base = root + "/eph";
        CoreOps.create(zk, base, "");
        for (String name : new String[] {"e1", "e2"}) {
            zk.create(base + "/" + name, new byte[0], Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
        }
        CoreOps.create(zk, base + "/p", "");
        CoreOps.create(zk, base + "/p/q", "");
        ZooKeeper other = Support.connect(connect);
        String othersNode = base + "/other";
        try {
            other.create(othersNode, new byte[0], Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
            Support.checkEqual(Arrays.asList(base + "/e1", base + "/e2"),
                    Support.sorted(new ArrayList<>(zk.getEphemerals(base))), "getEphemerals(prefix)");
            List<String> all = zk.getEphemerals();
            Support.check(all.contains(base + "/e1") && all.contains(base + "/e2"),
                    "getEphemerals() misses this session's nodes: " + all);
            Support.check(!all.contains(othersNode),
                    "getEphemerals() lists another session's node: " + all);
            Support.checkEqual(List.of(othersNode), other.getEphemerals(base),
                    "getEphemerals(prefix) of the other session");
            Support.checkEqual(5, zk.getAllChildrenNumber(base), "getAllChildrenNumber of the base");
            Support.checkEqual(1, zk.getAllChildrenNumber(base + "/p"), "getAllChildrenNumber of p");
            Support.checkEqual(0, zk.getAllChildrenNumber(base + "/p/q"), "getAllChildrenNumber of a leaf");
        } finally {
            other.close();
        }
        Support.checkEqual(null, zk.exists(othersNode, false), "ephemeral after its session closed");
        Support.checkEqual(4, zk.getAllChildrenNumber(base), "getAllChildrenNumber after a close");
    }

    static void aclsAndWhoAmI(String connect, ZooKeeper zk, String root) throws Exception {
        List<ClientInfo> anonymous = zk.whoAmI();
        Support.checkEqual(1, anonymous.size(), "whoAmI entries without auth: " + anonymous);
        Support.checkEqual("ip", anonymous.get(0).getAuthScheme(), "whoAmI scheme without auth");

        ZooKeeper alice = Support.connect(connect);
        ZooKeeper mallory = Support.connect(connect);
        try {
            alice.addAuthInfo("digest", "alice:secret".getBytes(StandardCharsets.UTF_8));
            mallory.addAuthInfo("digest", "alice:wrong".getBytes(StandardCharsets.UTF_8));
            List<String> identities = new ArrayList<>();
            for (ClientInfo info : alice.whoAmI()) {
                identities.add(info.getAuthScheme() + ":" + info.getUser());
            }
            Support.check(identities.contains("digest:alice"), "whoAmI after addAuthInfo: " + identities);
            Support.checkEqual(2, identities.size(), "whoAmI entries after addAuthInfo: " + identities);

            Id aliceId = new Id("digest", digestId("alice", "secret"));
            String secret = root + "/acl-alice";
            // Not List.of: the client probes ACL lists with contains(null).
            List<ACL> aliceOnly = Arrays.asList(new ACL(Perms.ALL, aliceId));
            zk.create(secret, "s".getBytes(), aliceOnly, CreateMode.PERSISTENT);
            Support.expectError(Code.NOAUTH, "getData without auth", () -> zk.getData(secret, false, null));
            Support.expectError(Code.NOAUTH, "setData without auth",
                    () -> zk.setData(secret, new byte[0], -1));
            Support.expectError(Code.NOAUTH, "getData with a wrong password",
                    () -> mallory.getData(secret, false, null));
            Support.checkEqual("s", new String(alice.getData(secret, false, null)), "getData with auth");
            Stat aclStat = new Stat();
            Support.checkEqual(aliceOnly, alice.getACL(secret, aclStat), "getACL");
            Support.checkEqual(0, aclStat.getAversion(), "aversion before setACL");
            Stat afterSetAcl = alice.setACL(secret, Ids.OPEN_ACL_UNSAFE, 0);
            Support.checkEqual(1, afterSetAcl.getAversion(), "aversion after setACL");
            Support.checkEqual("s", new String(zk.getData(secret, false, null)),
                    "getData without auth after opening the ACL");

            // CREATOR_ALL_ACL turns into the creator's authenticated identities.
            String mine = root + "/acl-creator";
            Support.expectError(Code.INVALIDACL, "CREATOR_ALL_ACL without auth",
                    () -> zk.create(mine, new byte[0], Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
            alice.create(mine, new byte[0], Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
            Support.checkEqual(aliceOnly, alice.getACL(mine, null), "ACL from CREATOR_ALL_ACL");
            Support.expectError(Code.NOAUTH, "getData of alice's node without auth",
                    () -> zk.getData(mine, false, null));
            alice.delete(mine, -1);

            String readOnly = root + "/acl-read-only";
            zk.create(readOnly, "r".getBytes(), Ids.READ_ACL_UNSAFE, CreateMode.PERSISTENT);
            Support.checkEqual("r", new String(zk.getData(readOnly, false, null)), "world-readable data");
            Support.expectError(Code.NOAUTH, "setData on a read-only node",
                    () -> zk.setData(readOnly, new byte[0], -1));
            Support.expectError(Code.NOAUTH, "create under a read-only node",
                    () -> CoreOps.create(zk, readOnly + "/child", ""));
        } finally {
            alice.close();
            mallory.close();
        }
    }

    /** ZooKeeper's digest identity: {@code user:base64(sha1("user:password"))}. */
    static String digestId(String user, String password) throws Exception {
        byte[] sha1 = MessageDigest.getInstance("SHA-1")
                .digest((user + ":" + password).getBytes(StandardCharsets.UTF_8));
        return user + ":" + Base64.getEncoder().encodeToString(sha1);
    }

    static void sessionResume(String connect, ZooKeeper zk, String root) throws Exception {
        String node = root + "/resumed-ephemeral";
        Session first = Session.start(connect, SHORT_SESSION_TIMEOUT_MS, 0, null).awaitConnected();
        long sessionId = first.zk.getSessionId();
        byte[] password = first.zk.getSessionPasswd();
        first.zk.create(node, new byte[0], Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
        // Drop the first handle's connection without closing the session (no closeSession
        // request), as a crashed client would; otherwise it would fight over the session.
        first.zk.getTestable().injectSessionExpiration();

        Session second = Session.start(connect, RESUMED_SESSION_TIMEOUT_MS, sessionId, password)
                .awaitConnected();
        try {
            Support.checkEqual(sessionId, second.zk.getSessionId(), "session id of the resumed handle");
            Stat stat = second.zk.exists(node, false);
            Support.check(stat != null, "the resumed session does not see its ephemeral " + node);
            Support.checkEqual(sessionId, stat.getEphemeralOwner(), "ephemeralOwner seen on resume");

            // Outlive the original connection's session timeout: the resumed handle keeps the
            // session, and so the ephemeral, alive.
            Thread.sleep(first.zk.getSessionTimeout() + 2000L);
            Support.checkEqual(List.of(), new ArrayList<>(second.states),
                    "connection states of the resumed handle while idle");
            Support.check(zk.exists(node, false) != null,
                    "ephemeral vanished although its session was resumed");

            byte[] wrong = password.clone();
            wrong[0] ^= 0x5a;
            Session impostor = Session.start(connect, RESUMED_SESSION_TIMEOUT_MS, sessionId, wrong);
            try {
                Support.checkEqual(KeeperState.Expired, impostor.nextState(),
                        "state after resuming with a wrong password");
            } finally {
                impostor.zk.close();
            }
            Support.check(zk.exists(node, false) != null,
                    "ephemeral vanished after a resume attempt with a wrong password");
            // ZooKeeper drops the live connection of a session on any resume attempt, so the
            // legitimate handle may reconnect; its session must survive.
            Support.waitUntil(Support.EVENT_TIMEOUT_S, "the resumed handle to be usable again",
                    () -> second.zk.getState() == ZooKeeper.States.CONNECTED && canRead(second.zk));
            Support.check(!second.states.contains(KeeperState.Expired),
                    "the real session expired after the impostor: " + second.states);
            Support.checkEqual(sessionId, second.zk.getSessionId(), "session id after the impostor");
        } finally {
            second.zk.close();
        }
        Support.checkEqual(null, zk.exists(node, false), "ephemeral after the resumed session closed");
    }

    private static boolean canRead(ZooKeeper zk) {
        try {
            zk.exists("/", false);
            return true;
        } catch (KeeperException.ConnectionLossException e) {
            return false;
        } catch (KeeperException | InterruptedException e) {
            throw new Support.CheckFailed("exists(\"/\") failed: " + e);
        }
    }

    /** A handle plus the connection states its default watcher saw, in order. */
    private static final class Session {
        final ZooKeeper zk;
        final BlockingQueue<KeeperState> states;

        private Session(ZooKeeper zk, BlockingQueue<KeeperState> states) {
            this.zk = zk;
            this.states = states;
        }

        /** Opens a new session, or with {@code sessionId != 0} resumes that one; does not wait. */
        static Session start(String connect, int timeoutMs, long sessionId, byte[] password)
                throws Exception {
            BlockingQueue<KeeperState> states = new LinkedBlockingQueue<>();
            Watcher recordState = event -> states.add(event.getState());
            ZooKeeper handle = sessionId == 0
                    ? new ZooKeeper(connect, timeoutMs, recordState)
                    : new ZooKeeper(connect, timeoutMs, recordState, sessionId, password);
            return new Session(handle, states);
        }

        KeeperState nextState() throws InterruptedException {
            return Support.next(states, "a connection state event");
        }

        Session awaitConnected() throws InterruptedException {
            Support.checkEqual(KeeperState.SyncConnected, nextState(), "first connection state");
            return this;
        }
    }
}
