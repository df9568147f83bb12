import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryNTimes;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.UriSpec;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;
import org.springframework.cloud.zookeeper.discovery.ZookeeperInstance;

/**
 * A Spring Cloud Zookeeper-style service on Curator's ServiceDiscovery (Debian's Curator 5.4):
 * registers two DYNAMIC instances of "curator-svc" under /services, prints "REGISTERED", then
 * answers commands on stdin:
 *   query NAME  ->  one "INSTANCE id address port sslPort serviceType enabled uri k=v,k=v" line
 *                   per instance Curator's queryForInstances returns, then "END"
 *   quit        ->  unregisters, closes the session, prints "BYE"
 * Usage: CuratorNaming CONNECT_STRING SESSION_TIMEOUT_MS
 */
public class CuratorNaming {
    public static void main(String[] args) throws Exception {
        CuratorFramework client = CuratorFrameworkFactory.builder()
            .connectString(args[0])
            .sessionTimeoutMs(Integer.parseInt(args[1]))
            .connectionTimeoutMs(10000)
            .retryPolicy(new RetryNTimes(40, 250))
            .build();
        client.start();
        if (!client.blockUntilConnected(20, TimeUnit.SECONDS)) {
            System.out.println("FAIL cannot connect to " + args[0]);
            System.exit(1);
        }
        ServiceDiscovery<ZookeeperInstance> discovery = ServiceDiscoveryBuilder.builder(ZookeeperInstance.class)
            .client(client)
            .basePath("/services")
            .serializer(new JsonInstanceSerializer<>(ZookeeperInstance.class))
            .build();
        discovery.start();
        List<ServiceInstance<ZookeeperInstance>> mine = new ArrayList<>();
        mine.add(instance("c-1", "10.9.0.1", 9001, Map.of("instance_status", "UP", "zone", "eu", "weight", "5")));
        mine.add(instance("c-2", "10.9.0.2", 9002, Map.of("instance_status", "OUT_OF_SERVICE", "zone", "us")));
        for (ServiceInstance<ZookeeperInstance> instance : mine) {
            discovery.registerService(instance);
        }
        System.out.println("REGISTERED");
        System.out.flush();

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
            String[] words = line.trim().split(" ");
            if (words[0].equals("query") && words.length == 2) {
                for (ServiceInstance<ZookeeperInstance> found : discovery.queryForInstances(words[1])) {
                    Map<String, String> metadata = found.getPayload() == null
                        ? new TreeMap<>() : new TreeMap<>(found.getPayload().getMetadata());
                    StringBuilder pairs = new StringBuilder();
                    for (Map.Entry<String, String> entry : metadata.entrySet()) {
                        if (pairs.length() > 0) pairs.append(',');
                        pairs.append(entry.getKey()).append('=').append(entry.getValue());
                    }
                    System.out.println("INSTANCE " + found.getId() + " " + found.getAddress() + " "
                        + found.getPort() + " " + found.getSslPort() + " " + found.getServiceType() + " "
                        + found.isEnabled() + " " + found.buildUriSpec() + " " + pairs);
                }
                System.out.println("END");
            } else if (words[0].equals("quit")) {
                for (ServiceInstance<ZookeeperInstance> instance : mine) {
                    discovery.unregisterService(instance);
                }
                discovery.close();
                client.close();
                System.out.println("BYE");
                return;
            } else {
                System.out.println("ERROR unknown command: " + line);
            }
            System.out.flush();
        }
    }

    private static ServiceInstance<ZookeeperInstance> instance(String id, String address, int port,
            Map<String, String> metadata) throws Exception {
        return ServiceInstance.<ZookeeperInstance>builder()
            .name("curator-svc")
            .id(id)
            .address(address)
            .port(port)
            .uriSpec(new UriSpec("{scheme}://{address}:{port}"))
            .payload(new ZookeeperInstance(id, "curator-svc", new TreeMap<>(metadata)))
            .build();
    }
}
