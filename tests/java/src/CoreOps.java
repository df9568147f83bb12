import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.KeeperException.Code;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

/**
 * The plain ZooKeeper Java client against the target: node CRUD with Stat fields, sequential and
 * ephemeral names, error codes, multi, containers and TTL nodes. Watches live in
 * {@link CoreWatches}; ACLs, whoAmI and sessions in {@link CoreAuthSessions}.
 */
public class CoreOps {
    /** Containers and TTL nodes are reaped by a periodic check (1 s in the test configuration). */
    static final long REAP_TIMEOUT_S = 15;
    private static final Pattern SEQUENCE_SUFFIX = Pattern.compile("\\d{10}");

    public static void main(String[] args) {
        Support.main("CoreOps", args, 110, CoreOps::scenario);
    }

    private static void scenario(String connect) throws Exception {
        String root = Support.uniquePath("java-coreops");
        ZooKeeper zk = Support.connect(connect);
        try {
            create(zk, root, "");
            section("create and Stat", () -> createAndStat(zk, root));
            section("sequential and ephemeral names", () -> sequentialAndEphemeral(zk, root));
            section("setData/getData/exists/getChildren", () -> readsAndWrites(zk, root));
            section("error codes and delete with version", () -> errorsAndDelete(zk, root));
            section("multi", () -> multi(zk, root));
            section("containers", () -> containers(zk, root));
            section("TTL nodes", () -> ttlNodes(zk, root));
            section("one-time watches", () -> CoreWatches.oneTimeWatches(connect, zk, root));
            section("persistent watches", () -> CoreWatches.persistentWatches(connect, zk, root));
            section("removeWatches", () -> CoreWatches.removeWatches(connect, zk, root));
            section("getEphemerals/getAllChildrenNumber",
                    () -> CoreAuthSessions.ephemeralsAndCounts(connect, zk, root));
            section("whoAmI and digest ACLs", () -> CoreAuthSessions.aclsAndWhoAmI(connect, zk, root));
            section("session resume", () -> CoreAuthSessions.sessionResume(connect, zk, root));
        } finally {
            Support.deleteTree(zk, root);
            zk.close();
        }
    }

    private static void section(String name, Support.ThrowingAction body) throws Exception {
        Support.log("-- " + name);
        try {
            body.run();
        } catch (Support.CheckFailed e) {
            throw new Support.CheckFailed("[" + name + "] " + e.getMessage());
        }
    }

    static String create(ZooKeeper zk, String path, String data) throws Exception {
        return zk.create(path, data.getBytes(), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
    }

    private static void createAndStat(ZooKeeper zk, String root) throws Exception {
        Stat parentBefore = zk.exists(root, false);
        Stat stat = new Stat();
        String path = zk.create(root + "/node", "hello".getBytes(), Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT, stat);
        Support.checkEqual(root + "/node", path, "created path");
        Support.check(stat.getCzxid() > parentBefore.getCzxid(), "create2 czxid " + stat.getCzxid()
                + " should be after the parent's " + parentBefore.getCzxid());
        Support.checkEqual(stat.getCzxid(), stat.getMzxid(), "new node mzxid");
        Support.checkEqual(stat.getCzxid(), stat.getPzxid(), "new node pzxid");
        Support.checkEqual(stat.getCtime(), stat.getMtime(), "new node mtime");
        Support.check(Math.abs(stat.getCtime() - System.currentTimeMillis()) < 60_000,
                "ctime " + stat.getCtime() + " is not close to the local clock");
        Support.checkEqual(0, stat.getVersion(), "new node version");
        Support.checkEqual(0, stat.getCversion(), "new node cversion");
        Support.checkEqual(0, stat.getAversion(), "new node aversion");
        Support.checkEqual(0L, stat.getEphemeralOwner(), "persistent node ephemeralOwner");
        Support.checkEqual(5, stat.getDataLength(), "new node dataLength");
        Support.checkEqual(0, stat.getNumChildren(), "new node numChildren");
        Support.checkEqual(stat, zk.exists(path, false), "exists() Stat vs create2 Stat");

        Stat parent = zk.exists(root, false);
        Support.checkEqual(parentBefore.getCversion() + 1, parent.getCversion(), "parent cversion");
        Support.checkEqual(parentBefore.getNumChildren() + 1, parent.getNumChildren(),
                "parent numChildren");
        Support.checkEqual(stat.getCzxid(), parent.getPzxid(), "parent pzxid after create");
        Support.checkEqual(parentBefore.getVersion(), parent.getVersion(),
                "parent data version after a child create");
    }

    private static void sequentialAndEphemeral(ZooKeeper zk, String root) throws Exception {
        String parent = root + "/seq";
        create(zk, parent, "");
        String first = zk.create(parent + "/n-", new byte[0], Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT_SEQUENTIAL);
        String second = zk.create(parent + "/n-", new byte[0], Ids.OPEN_ACL_UNSAFE,
                CreateMode.EPHEMERAL_SEQUENTIAL);
        Support.checkEqual(parent + "/n-0000000000", first, "first sequential name");
        Support.checkEqual(parent + "/n-0000000001", second, "second sequential name");
        // The sequence number is the parent's cversion, so plain creates advance it too.
        create(zk, parent + "/plain", "");
        String fourth = zk.create(parent + "/n-", new byte[0], Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT_SEQUENTIAL);
        Support.checkEqual(parent + "/n-0000000003", fourth, "sequential name after a plain create");
        String bare = zk.create(parent + "/", new byte[0], Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT_SEQUENTIAL);
        Support.check(SEQUENCE_SUFFIX.matcher(bare.substring(parent.length() + 1)).matches(),
                "sequential child with an empty prefix: " + bare);

        Stat ephemeral = zk.exists(second, false);
        Support.checkEqual(zk.getSessionId(), ephemeral.getEphemeralOwner(), "ephemeralOwner");
        String plainEphemeral = zk.create(parent + "/eph", new byte[0], Ids.OPEN_ACL_UNSAFE,
                CreateMode.EPHEMERAL);
        Support.checkEqual(parent + "/eph", plainEphemeral, "ephemeral path");
        Support.expectError(Code.NOCHILDRENFOREPHEMERALS, "create under an ephemeral",
                () -> create(zk, plainEphemeral + "/child", ""));
    }

    private static void readsAndWrites(ZooKeeper zk, String root) throws Exception {
        String path = root + "/rw";
        Stat created = new Stat();
        zk.create(path, "v0".getBytes(), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, created);
        Stat set = zk.setData(path, "value-1".getBytes(), 0);
        Support.checkEqual(1, set.getVersion(), "version after setData");
        Support.checkEqual(created.getCzxid(), set.getCzxid(), "czxid after setData");
        Support.check(set.getMzxid() > created.getMzxid(), "mzxid did not advance on setData");
        Support.check(set.getMtime() >= created.getMtime(), "mtime went backwards on setData");
        Support.checkEqual(7, set.getDataLength(), "dataLength after setData");
        Support.checkEqual(created.getPzxid(), set.getPzxid(), "pzxid after setData");

        Stat read = new Stat();
        Support.checkEqual("value-1", new String(zk.getData(path, false, read)), "getData value");
        Support.checkEqual(set, read, "getData Stat vs setData Stat");
        Support.checkEqual(null, zk.exists(root + "/missing", false), "exists() on a missing node");

        zk.setData(path, new byte[0], -1);
        Stat emptied = new Stat();
        byte[] empty = zk.getData(path, false, emptied);
        Support.checkEqual(0, empty == null ? 0 : empty.length, "empty data length");
        Support.checkEqual(2, emptied.getVersion(), "version after an unconditional setData");

        for (String child : new String[] {"c", "a", "b"}) {
            create(zk, path + "/" + child, child);
        }
        Stat parentStat = new Stat();
        List<String> children = new ArrayList<>(zk.getChildren(path, false, parentStat));
        Support.checkEqual(Arrays.asList("a", "b", "c"), Support.sorted(children), "children");
        Support.checkEqual(3, parentStat.getNumChildren(), "numChildren");
        Support.checkEqual(3, parentStat.getCversion(), "cversion after 3 creates");
        Support.checkEqual(zk.exists(path + "/b", false).getCzxid(), parentStat.getPzxid(),
                "pzxid is the last child create");
        Support.checkEqual(List.of(), zk.getChildren(path + "/a", false), "children of a leaf");
    }

    private static void errorsAndDelete(ZooKeeper zk, String root) throws Exception {
        String path = root + "/del";
        create(zk, path, "x");
        create(zk, path + "/child", "");
        Support.expectError(Code.NODEEXISTS, "create an existing node", () -> create(zk, path, ""));
        Support.expectError(Code.NONODE, "create under a missing parent",
                () -> create(zk, root + "/nope/child", ""));
        Support.expectError(Code.NONODE, "getData on a missing node",
                () -> zk.getData(root + "/nope", false, null));
        Support.expectError(Code.NONODE, "setData on a missing node",
                () -> zk.setData(root + "/nope", new byte[0], -1));
        Support.expectError(Code.NONODE, "getChildren on a missing node",
                () -> zk.getChildren(root + "/nope", false));
        Support.expectError(Code.BADVERSION, "setData with a stale version",
                () -> zk.setData(path, "y".getBytes(), 5));
        Support.expectError(Code.NOTEMPTY, "delete a node with children", () -> zk.delete(path, -1));
        Support.expectError(Code.NONODE, "delete a missing node", () -> zk.delete(root + "/nope", -1));

        zk.delete(path + "/child", 0);
        zk.setData(path, "y".getBytes(), 0);
        Support.expectError(Code.BADVERSION, "delete with a stale version", () -> zk.delete(path, 0));
        Support.check(zk.exists(path, false) != null, "node vanished after a failed delete");
        zk.delete(path, 1);
        Support.checkEqual(null, zk.exists(path, false), "Stat after delete with the right version");
    }

    private static void multi(ZooKeeper zk, String root) throws Exception {
        String base = root + "/multi";
        create(zk, base, "");
        List<OpResult> results = zk.multi(Arrays.asList(
                Op.create(base + "/a", "1".getBytes(), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.create(base + "/b", "2".getBytes(), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.setData(base + "/a", "3".getBytes(), 0),
                Op.check(base + "/b", 0),
                Op.delete(base + "/b", 0)));
        Support.checkEqual(5, results.size(), "multi result count");
        Support.checkEqual(base + "/a", ((OpResult.CreateResult) results.get(0)).getPath(),
                "multi create result path");
        Support.checkEqual(base + "/b", ((OpResult.CreateResult) results.get(1)).getPath(),
                "multi second create result path");
        Support.checkEqual(1, ((OpResult.SetDataResult) results.get(2)).getStat().getVersion(),
                "multi setData result version");
        Support.check(results.get(3) instanceof OpResult.CheckResult, "4th result: " + results.get(3));
        Support.check(results.get(4) instanceof OpResult.DeleteResult, "5th result: " + results.get(4));
        Support.checkEqual("3", new String(zk.getData(base + "/a", false, null)), "data after multi");
        Support.checkEqual(null, zk.exists(base + "/b", false), "node deleted by multi");

        // A failing op aborts the whole transaction; each op gets an error result.
        try {
            zk.multi(Arrays.asList(
                    Op.create(base + "/c", new byte[0], Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                    Op.setData(base + "/a", "4".getBytes(), 99),
                    Op.create(base + "/d", new byte[0], Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT)));
            throw new Support.CheckFailed("multi with a bad version succeeded");
        } catch (KeeperException e) {
            Support.checkEqual(Code.BADVERSION, e.code(), "failed multi error code");
            List<Integer> codes = new ArrayList<>();
            for (OpResult r : e.getResults()) {
                Support.check(r instanceof OpResult.ErrorResult, "failed multi result " + r);
                codes.add(((OpResult.ErrorResult) r).getErr());
            }
            Support.checkEqual(Arrays.asList(Code.OK.intValue(), Code.BADVERSION.intValue(),
                    Code.RUNTIMEINCONSISTENCY.intValue()), codes, "failed multi per-op error codes");
        }
        Support.checkEqual(null, zk.exists(base + "/c", false), "create rolled back by a failed multi");
        Support.checkEqual("3", new String(zk.getData(base + "/a", false, null)),
                "data after a failed multi");

        // Read-only multi: results per op; a missing node fails just its own op.
        List<OpResult> reads = zk.multi(Arrays.asList(Op.getData(base + "/a"), Op.getChildren(base)));
        Support.checkEqual("3", new String(((OpResult.GetDataResult) reads.get(0)).getData()),
                "read multi getData");
        Support.checkEqual(List.of("a"), ((OpResult.GetChildrenResult) reads.get(1)).getChildren(),
                "read multi getChildren");
        List<OpResult> partial =
                zk.multi(Arrays.asList(Op.getData(base + "/missing"), Op.getData(base + "/a")));
        Support.checkEqual(2, partial.size(), "read multi result count");
        Support.check(partial.get(0) instanceof OpResult.ErrorResult,
                "read multi result for a missing node: " + partial.get(0));
        Support.checkEqual(Code.NONODE.intValue(), ((OpResult.ErrorResult) partial.get(0)).getErr(),
                "read multi missing-node error");
        Support.checkEqual("3", new String(((OpResult.GetDataResult) partial.get(1)).getData()),
                "read multi result after a failed read");
    }

    private static void containers(ZooKeeper zk, String root) throws Exception {
        String used = root + "/container-used";
        String neverUsed = root + "/container-never-used";
        Stat stat = new Stat();
        zk.create(used, new byte[0], Ids.OPEN_ACL_UNSAFE, CreateMode.CONTAINER, stat);
        zk.create(neverUsed, new byte[0], Ids.OPEN_ACL_UNSAFE, CreateMode.CONTAINER);
        // Internally the type is kept in ephemeralOwner, but clients are shown 0.
        Support.checkEqual(0L, stat.getEphemeralOwner(), "container ephemeralOwner");
        create(zk, used + "/child", "");
        zk.delete(used + "/child", -1);
        Support.waitUntil(REAP_TIMEOUT_S, "the emptied container " + used + " to be deleted",
                () -> missing(zk, used));
        // Containers that never had a child are not reaped.
        Support.check(zk.exists(neverUsed, false) != null,
                "container that never had children was deleted");
        zk.delete(neverUsed, -1);
    }

    private static void ttlNodes(ZooKeeper zk, String root) throws Exception {
        String lone = root + "/ttl-lone";
        String parent = root + "/ttl-parent";
        long ttlMs = 500;
        Stat stat = new Stat();
        zk.create(lone, new byte[0], Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_WITH_TTL, stat, ttlMs);
        // Internally the TTL is kept in ephemeralOwner, but clients are shown 0.
        Support.checkEqual(0L, stat.getEphemeralOwner(), "TTL node ephemeralOwner");
        zk.create(parent, new byte[0], Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_WITH_TTL, null, ttlMs);
        create(zk, parent + "/child", "");
        Support.waitUntil(REAP_TIMEOUT_S, "the expired TTL node " + lone + " to be deleted",
                () -> missing(zk, lone));
        Support.check(zk.exists(parent, false) != null, "expired TTL node with a child was deleted");
        zk.delete(parent + "/child", -1);
        Support.waitUntil(REAP_TIMEOUT_S, "the emptied TTL node " + parent + " to be deleted",
                () -> missing(zk, parent));
    }

    static boolean missing(ZooKeeper zk, String path) {
        try {
            return zk.exists(path, false) == null;
        } catch (KeeperException | InterruptedException e) {
            throw new Support.CheckFailed("exists(" + path + ") failed: " + e);
        }
    }
}
