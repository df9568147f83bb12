//! The registry works the same on Apache ZooKeeper 3.8 as on Arbor: one scenario (registration
//! kinds, re-registration, a health transition, filters, a bad node, the service list, session
//! end) run against both, with the observable results compared.

use std::time::Duration;

use arbor_coord::remote::ZkCoord;
use arbor_coord::{Coordination, CreateKind};
use arbor_naming::query::InstanceQuery;
use arbor_naming::{HealthStatus, Registry, RegistryLayout, ServiceInstance, ServiceType};
use arbor_test_support::{ArborOptions, ArborServer, ZkReference};

async fn connect(servers: &str) -> Registry<ZkCoord> {
    let coord = ZkCoord::connect(servers, Duration::from_secs(10))
        .await
        .expect("connect");
    Registry::new(coord, RegistryLayout::default())
}

/// Runs the scenario; returns a transcript of what a reader saw.
async fn scenario(servers: &str) -> Vec<String> {
    let owner = connect(servers).await;
    let reader = connect(servers).await;
    let mut transcript = Vec::new();
    let instance = |id: &str, port: u16| {
        ServiceInstance::new("web", id)
            .with_address("10.0.0.1")
            .with_port(port)
            .with_registration_time(1)
    };
    owner
        .register(&instance("d-1", 81).with_zone("eu"))
        .await
        .unwrap();
    owner.register(&instance("d-2", 82)).await.unwrap();
    owner.register(&instance("d-2", 83)).await.unwrap();
    reader
        .register(&instance("s-1", 84).with_service_type(ServiceType::Static))
        .await
        .unwrap();
    reader
        .set_health("web", "d-2", HealthStatus::Down)
        .await
        .unwrap();
    reader
        .coord()
        .create("/services/web/bad", b"nope", CreateKind::Persistent)
        .await
        .unwrap();
    let describe = |result: &arbor_naming::QueryResult| {
        let instances: Vec<String> = result
            .selection
            .instances
            .iter()
            .map(|r| {
                format!(
                    "{}:{:?}:{}:{}",
                    r.instance.id,
                    r.instance.port,
                    r.instance.health(),
                    r.is_ephemeral()
                )
            })
            .collect();
        format!(
            "{} protected={} warnings={:?}",
            instances.join(","),
            result.selection.protection_applied,
            result.warnings.iter().map(|w| &w.path).collect::<Vec<_>>()
        )
    };
    for params in [
        vec![],
        vec![("health", "any")],
        vec![("zone", "eu")],
        vec![("health", "down")],
        vec![("protect", "90%")],
    ] {
        let query = InstanceQuery::from_params(params.iter().copied()).unwrap();
        let result = reader.query("web", &query).await.unwrap();
        transcript.push(format!("{params:?}: {}", describe(&result)));
    }
    let list = reader.list_services().await.unwrap();
    for service in &list.services {
        transcript.push(format!(
            "service {} {} {}",
            service.name, service.instances, service.passing
        ));
    }
    drop(owner);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let all = reader.query("web", &InstanceQuery::any()).await.unwrap();
        if all.selection.instances.len() == 1 {
            transcript.push(format!("after the owner left: {}", describe(&all)));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "ephemerals stayed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    transcript
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_behaves_the_same_on_zookeeper_and_arbor() {
    let zookeeper = ZkReference::standalone();
    let arbor = ArborServer::start(ArborOptions::new());
    let on_zookeeper = scenario(&zookeeper.connect_string()).await;
    let on_arbor = scenario(&arbor.connect_string()).await;
    assert_eq!(on_arbor, on_zookeeper);
    assert_eq!(
        on_arbor[0],
        "[]: d-1:Some(81):UP:true,s-1:Some(84):UP:false protected=false warnings=[\"/services/web/bad\"]"
    );
    assert_eq!(on_arbor.len(), 7, "{on_arbor:#?}");
}
