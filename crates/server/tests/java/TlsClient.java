// The ZooKeeper Java client over TLS (its Netty socket), driven by crates/server/tests/tls.rs.
// Usage: TlsClient <hosts> <mode> [client-cert.pem]
//   mode "connect": connect, print CONNECTED or NOT_CONNECTED (exit 3)
//   mode "x509":    also print WHOAMI lines and the certificate's SUBJECT (as Java names it),
//                   create /tls-secret readable only by x509:<subject>, read it back, print OK
import java.io.FileInputStream;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;

public class TlsClient {
    public static void main(String[] args) throws Exception {
        String hosts = args[0];
        String mode = args[1];
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hosts, 10000, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        if (!connected.await(Integer.parseInt(System.getProperty("connectSeconds", "8")), TimeUnit.SECONDS)) {
            System.out.println("NOT_CONNECTED");
            System.out.flush();
            Runtime.getRuntime().halt(3);
        }
        System.out.println("CONNECTED");
        if (mode.equals("x509")) {
            for (ClientInfo info : zk.whoAmI()) {
                System.out.println("WHOAMI " + info.getAuthScheme() + " " + info.getUser());
            }
            X509Certificate cert;
            try (FileInputStream in = new FileInputStream(args[2])) {
                cert = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
            }
            String subject = cert.getSubjectX500Principal().getName();
            System.out.println("SUBJECT " + subject);
            List<ACL> acl = Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("x509", subject)));
            zk.create("/tls-secret", "hidden".getBytes("UTF-8"), acl, CreateMode.PERSISTENT);
            System.out.println("READ " + new String(zk.getData("/tls-secret", false, null), "UTF-8"));
            System.out.println("OK");
        }
        zk.close();
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }
}
