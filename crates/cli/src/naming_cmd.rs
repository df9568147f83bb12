//! `arbor naming ...`: the service registry's command line. It talks the ZooKeeper protocol
//! (through `ZkCoord`), so it works against Arbor and against a plain ZooKeeper ensemble alike.
//!
//! Exit codes: 0 ok, 1 refused (not registered, conflict, nothing to pick), 2 usage (bad
//! arguments or input), 3 unreachable.

use std::time::Duration;

use arbor_coord::remote::ZkCoord;
use arbor_coord::CoordError;
use arbor_naming::api::{list_view, query_view};
use arbor_naming::instance::{parse_weight, UriSpec};
use arbor_naming::query::{parse_duration, parse_meta, InstanceQuery};
use arbor_naming::registry::{QueryResult, ServiceList};
use arbor_naming::{
    dubbo, HealthStatus, NamingError, NodeWarning, Registry, RegistryLayout, ServiceInstance,
    ServiceType,
};

const EXIT_OK: u8 = 0;
const EXIT_REFUSED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_UNREACHABLE: u8 = 3;

/// Arguments of `arbor naming`.
#[derive(clap::Args, Debug)]
pub struct NamingArgs {
    /// ZooKeeper connect string of Arbor or ZooKeeper (`host:port[,host:port...][/chroot]`).
    #[arg(long, global = true, default_value = "127.0.0.1:2181")]
    server: String,
    /// Base path of the registry (Curator's basePath, Spring Cloud's discovery root).
    #[arg(long, global = true, default_value = arbor_naming::layout::DEFAULT_BASE)]
    base: String,
    /// Session and connection timeout, e.g. 10s.
    #[arg(long, global = true, default_value = "10s", value_parser = cli_duration)]
    timeout: Duration,
    #[command(subcommand)]
    command: NamingCommand,
}

#[derive(clap::Subcommand, Debug)]
enum NamingCommand {
    /// List services with their instance and passing counts (or Dubbo providers with --dubbo).
    Ls(LsArgs),
    /// Show the instances of a service (passing only unless --health says otherwise).
    Get(GetArgs),
    /// Print a service's instances, then again on every change, until interrupted.
    Watch(WatchArgs),
    /// Register an instance. DYNAMIC (the default) holds it until this command stops; STATIC
    /// and PERMANENT store it and exit.
    Register(RegisterArgs),
    /// Remove an instance.
    Deregister(DeregisterArgs),
}

#[derive(clap::Args, Debug)]
struct LsArgs {
    /// List Dubbo providers under <dubbo-root>/<interface>/providers instead.
    #[arg(long)]
    dubbo: bool,
    /// Dubbo's registry root.
    #[arg(long, default_value = dubbo::DEFAULT_ROOT)]
    dubbo_root: String,
    /// Print JSON (the HTTP API's shape).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug, Clone)]
struct FilterArgs {
    /// passing (enabled and UP), any, or a status: up, down, out_of_service, starting, unknown.
    #[arg(long, default_value = "passing")]
    health: String,
    /// Only instances in this zone.
    #[arg(long)]
    zone: Option<String>,
    /// Only instances with this tag (repeatable: all must match).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Only instances with this metadata entry (repeatable: all must match).
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    metadata: Vec<String>,
    /// Protection threshold: below this fraction (0.5) or percentage (50%) of passing
    /// instances, all instances are returned (flagged).
    #[arg(long)]
    protect: Option<String>,
}

impl FilterArgs {
    fn query(&self) -> Result<InstanceQuery, NamingError> {
        let mut params: Vec<(&str, &str)> = vec![("health", self.health.as_str())];
        if let Some(zone) = &self.zone {
            params.push(("zone", zone));
        }
        params.extend(self.tags.iter().map(|tag| ("tag", tag.as_str())));
        params.extend(self.metadata.iter().map(|entry| ("meta", entry.as_str())));
        if let Some(protect) = &self.protect {
            params.push(("protect", protect));
        }
        Ok(InstanceQuery::from_params(params)?)
    }
}

#[derive(clap::Args, Debug)]
struct GetArgs {
    service: String,
    #[command(flatten)]
    filters: FilterArgs,
    /// Print one endpoint (address:port) picked at random by weight instead of the table.
    #[arg(long)]
    pick: bool,
    /// Print JSON (the HTTP API's shape).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct WatchArgs {
    service: String,
    #[command(flatten)]
    filters: FilterArgs,
    /// Stop after this many changes (default: run until interrupted).
    #[arg(long)]
    count: Option<u64>,
    /// Print one JSON document per line.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug, Clone)]
struct RegisterArgs {
    service: String,
    /// The instance's address (host name or IP).
    #[arg(long)]
    address: String,
    #[arg(long)]
    port: Option<u16>,
    #[arg(long)]
    ssl_port: Option<u16>,
    /// Instance id (default: address:port).
    #[arg(long)]
    id: Option<String>,
    /// dynamic (ephemeral: held by this command), static or permanent (persistent).
    #[arg(long = "type", default_value = "dynamic")]
    service_type: String,
    /// Health status: UP, DOWN, OUT_OF_SERVICE, STARTING, UNKNOWN.
    #[arg(long, default_value = "UP")]
    health: String,
    /// Load-balancing weight, 0..10000 (default 1).
    #[arg(long)]
    weight: Option<String>,
    #[arg(long)]
    zone: Option<String>,
    /// A tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// A metadata entry (repeatable).
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    metadata: Vec<String>,
    /// Curator URI spec.
    #[arg(long, default_value = arbor_naming::instance::DEFAULT_URI_SPEC)]
    uri_spec: String,
    /// The payload's Jackson `@class` (default: Spring Cloud's ZookeeperInstance, which Spring
    /// Cloud Zookeeper Discovery needs); `none` writes the payload without one.
    #[arg(long)]
    payload_class: Option<String>,
}

#[derive(clap::Args, Debug)]
struct DeregisterArgs {
    service: String,
    id: String,
    /// Also remove a DYNAMIC instance of a live session (its owner may register it again).
    #[arg(long)]
    force: bool,
}

fn cli_duration(text: &str) -> Result<Duration, String> {
    parse_duration("duration", text).map_err(|err| err.to_string())
}

/// A failure with the exit code it maps to.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    fn refused(message: impl Into<String>) -> Failure {
        Failure {
            code: EXIT_REFUSED,
            message: message.into(),
        }
    }
}

impl From<NamingError> for Failure {
    fn from(err: NamingError) -> Failure {
        let code = match &err {
            NamingError::Invalid(_) | NamingError::Query(_) => EXIT_USAGE,
            _ if err.is_unavailable() => EXIT_UNREACHABLE,
            _ => EXIT_REFUSED,
        };
        Failure {
            code,
            message: err.to_string(),
        }
    }
}

/// Runs `arbor naming`; returns the process exit code.
pub async fn run(args: NamingArgs) -> anyhow::Result<u8> {
    match run_command(args).await {
        Ok(code) => Ok(code),
        Err(failure) => {
            eprintln!("arbor naming: {}", failure.message);
            Ok(failure.code)
        }
    }
}

async fn run_command(args: NamingArgs) -> Result<u8, Failure> {
    let layout = RegistryLayout::new(&args.base).map_err(|err| Failure::usage(err.to_string()))?;
    // Check what can be checked before connecting, so usage errors do not wait for a server.
    let registration = match &args.command {
        NamingCommand::Register(register) => Some(instance_from_args(register)?),
        _ => None,
    };
    match &args.command {
        NamingCommand::Get(get) => drop(get.filters.query()?),
        NamingCommand::Watch(watch) => drop(watch.filters.query()?),
        _ => {}
    }
    if let Some(instance) = registration
        .as_ref()
        .filter(|i| i.service_type.is_dynamic())
    {
        return hold_registration(&args, layout, instance).await;
    }
    let registry = Registry::new(connect(&args).await?, layout);
    match args.command {
        NamingCommand::Ls(ls) if ls.dubbo => list_dubbo(&registry, &ls).await,
        NamingCommand::Ls(ls) => {
            let list = registry.list_services().await?;
            print_warnings(&list.warnings);
            if ls.json {
                println!("{}", list_view(&list));
            } else {
                print!("{}", services_table(&list));
            }
            Ok(EXIT_OK)
        }
        NamingCommand::Get(get) => {
            let result = registry.query(&get.service, &get.filters.query()?).await?;
            print_warnings(&result.warnings);
            if get.pick {
                return pick_one(&result);
            }
            if get.json {
                println!("{}", query_view(&result));
            } else {
                print_protection(&result);
                print!("{}", instances_table(&result));
            }
            Ok(EXIT_OK)
        }
        NamingCommand::Watch(watch) => watch_service(&registry, &watch).await,
        NamingCommand::Register(_) => {
            let instance = registration.expect("built above for register");
            let path = registry.register(&instance).await?;
            println!("registered {path} ({})", instance.service_type);
            Ok(EXIT_OK)
        }
        NamingCommand::Deregister(deregister) => {
            let (service, id) = (&deregister.service, &deregister.id);
            match registry.get(service, id).await {
                Ok(None) => {
                    return Err(Failure::refused(format!(
                        "instance {id:?} of service {service:?} is not registered"
                    )))
                }
                Ok(Some(found)) if found.is_ephemeral() && !deregister.force => {
                    return Err(Failure::refused(format!(
                        "{service}/{id} is a DYNAMIC instance of a live session (0x{:x}); it goes \
                         when that session ends; --force removes it now",
                        found.ephemeral_owner
                    )))
                }
                Ok(Some(_)) | Err(NamingError::Invalid(_)) => {}
                Err(err) => return Err(err.into()),
            }
            if registry.deregister(service, id).await? {
                println!("deregistered {service}/{id}");
                Ok(EXIT_OK)
            } else {
                Err(Failure::refused(format!(
                    "instance {id:?} of service {service:?} is not registered"
                )))
            }
        }
    }
}

async fn connect(args: &NamingArgs) -> Result<ZkCoord, Failure> {
    ZkCoord::connect(&args.server, args.timeout)
        .await
        .map_err(|err| Failure {
            code: match err {
                CoordError::Unavailable(_) | CoordError::SessionExpired => EXIT_UNREACHABLE,
                _ => EXIT_REFUSED,
            },
            message: err.to_string(),
        })
}

fn instance_from_args(args: &RegisterArgs) -> Result<ServiceInstance, Failure> {
    let service_type: ServiceType = args.service_type.parse().map_err(Failure::usage)?;
    let health: HealthStatus = args.health.parse().map_err(Failure::usage)?;
    let id = match &args.id {
        Some(id) => id.clone(),
        None => match args.port.or(args.ssl_port) {
            Some(port) => format!("{}:{port}", args.address),
            None => args.address.clone(),
        },
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0);
    let mut instance = ServiceInstance::new(&args.service, &id);
    if let (Some(class), Some(serde_json::Value::Object(payload))) =
        (args.payload_class.as_deref(), instance.payload.as_mut())
    {
        match class {
            "none" => payload.remove("@class"),
            class => payload.insert("@class".into(), class.into()),
        };
    }
    let mut instance = instance
        .with_address(&args.address)
        .with_service_type(service_type)
        .with_registration_time(now)
        .with_health(health);
    if let Some(port) = args.port {
        instance = instance.with_port(port);
    }
    if let Some(port) = args.ssl_port {
        instance = instance.with_ssl_port(port);
    }
    let uri_spec = UriSpec::parse(&args.uri_spec).map_err(|e| Failure::usage(e.to_string()))?;
    instance.uri_spec = Some(uri_spec);
    if let Some(weight) = &args.weight {
        let weight = parse_weight(weight).map_err(|e| Failure::usage(e.to_string()))?;
        instance = instance.with_weight(weight);
    }
    if let Some(zone) = &args.zone {
        instance = instance.with_zone(zone);
    }
    if !args.tags.is_empty() {
        instance = instance.with_tags(&args.tags);
    }
    for entry in &args.metadata {
        let (key, value) = parse_meta(entry).map_err(|e| Failure::usage(e.to_string()))?;
        instance = instance.with_metadata(key, value);
    }
    instance
        .validate()
        .map_err(|err| Failure::usage(err.to_string()))?;
    Ok(instance)
}

/// Registers a DYNAMIC instance and keeps its session until SIGINT/SIGTERM, then removes it.
/// When the session is lost (expired while disconnected), connects again and re-registers, as
/// Curator's ServiceDiscovery does.
async fn hold_registration(
    args: &NamingArgs,
    layout: RegistryLayout,
    instance: &ServiceInstance,
) -> Result<u8, Failure> {
    let mut first = true;
    loop {
        let registry = match connect(args).await {
            Ok(coord) => Registry::new(coord, layout.clone()),
            Err(failure) if first => return Err(failure),
            Err(failure) => {
                eprintln!("arbor naming: {}; retrying", failure.message);
                if wait_or_signal(Duration::from_secs(1)).await {
                    return Ok(EXIT_OK);
                }
                continue;
            }
        };
        match registry.register(instance).await {
            Ok(path) if first => {
                println!("registered {path} (DYNAMIC: held until this command stops)")
            }
            Ok(path) => eprintln!("arbor naming: registered {path} again"),
            Err(err) if first => return Err(err.into()),
            Err(err) => {
                eprintln!("arbor naming: {err}; retrying");
                if wait_or_signal(Duration::from_secs(1)).await {
                    return Ok(EXIT_OK);
                }
                continue;
            }
        }
        first = false;
        tokio::select! {
            _ = shutdown_signal() => {
                match registry.deregister(&instance.name, &instance.id).await {
                    Ok(_) => println!("deregistered {}/{}", instance.name, instance.id),
                    Err(err) => eprintln!("arbor naming: {err} (the instance goes with the session)"),
                }
                return Ok(EXIT_OK);
            }
            _ = registry.coord().session_ended() => {
                eprintln!("arbor naming: session lost; registering again");
            }
        }
    }
}

/// Sleeps for `pause`; `true` if a shutdown signal came first.
async fn wait_or_signal(pause: Duration) -> bool {
    tokio::select! {
        _ = shutdown_signal() => true,
        _ = tokio::time::sleep(pause) => false,
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn watch_service(registry: &Registry<ZkCoord>, args: &WatchArgs) -> Result<u8, Failure> {
    let query = args.filters.query()?;
    let mut result = registry.query(&args.service, &query).await?;
    let mut changes = 0u64;
    loop {
        print_warnings(&result.warnings);
        if args.json {
            println!("{}", query_view(&result));
        } else {
            println!("# {} at index {}", args.service, result.index);
            print_protection(&result);
            print!("{}", instances_table(&result));
        }
        if args.count.is_some_and(|count| changes >= count) {
            return Ok(EXIT_OK);
        }
        let index = result.index;
        loop {
            tokio::select! {
                _ = shutdown_signal() => return Ok(EXIT_OK),
                next = registry.watch(&args.service, &query, index, arbor_naming::api::MAX_WAIT) => {
                    result = next?;
                }
            }
            if result.index > index {
                break;
            }
        }
        changes += 1;
    }
}

fn pick_one(result: &QueryResult) -> Result<u8, Failure> {
    let mut rng = rand::thread_rng();
    match arbor_naming::query::pick(&result.selection.instances, &mut rng) {
        Some(picked) => {
            println!(
                "{}",
                picked
                    .instance
                    .uri()
                    .filter(|uri| !uri.is_empty())
                    .unwrap_or_else(|| picked.instance.endpoint())
            );
            Ok(EXIT_OK)
        }
        None => Err(Failure::refused(format!(
            "no instance of {:?} to pick (none selected, or all of weight 0)",
            result.service
        ))),
    }
}

async fn list_dubbo(registry: &Registry<ZkCoord>, args: &LsArgs) -> Result<u8, Failure> {
    let listing = dubbo::list_providers(registry.coord(), &args.dubbo_root).await?;
    print_warnings(&listing.warnings);
    if args.json {
        let interfaces: Vec<serde_json::Value> = listing
            .interfaces
            .iter()
            .map(|interface| {
                serde_json::json!({
                    "interface": interface.name,
                    "providers": interface.providers.iter().map(|p| serde_json::json!({
                        "url": p.url, "protocol": p.protocol, "host": p.host, "port": p.port,
                        "params": p.params,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "interfaces": interfaces }));
        return Ok(EXIT_OK);
    }
    for interface in &listing.interfaces {
        let count = interface.providers.len();
        println!(
            "{} ({count} provider{})",
            interface.name,
            if count == 1 { "" } else { "s" }
        );
        for provider in &interface.providers {
            println!(
                "  {}  {}  {}",
                provider.endpoint(),
                provider.protocol,
                provider.key_params()
            );
        }
    }
    Ok(EXIT_OK)
}

fn print_warnings(warnings: &[NodeWarning]) {
    for warning in warnings {
        eprintln!("warning: skipped {}: {}", warning.path, warning.error);
    }
}

fn print_protection(result: &QueryResult) {
    if result.selection.protection_applied {
        eprintln!(
            "note: protection threshold applied: {} of {} passing, so all {} are listed",
            result.selection.passing, result.selection.matching, result.selection.matching
        );
    }
}

/// Left-aligned columns separated by two spaces.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

fn services_table(list: &ServiceList) -> String {
    table(
        &["SERVICE", "INSTANCES", "PASSING"],
        list.services
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    s.instances.to_string(),
                    s.passing.to_string(),
                ]
            })
            .collect(),
    )
}

fn instances_table(result: &QueryResult) -> String {
    use arbor_naming::instance::{HEALTH_KEY, TAGS_KEY, WEIGHT_KEY, ZONE_KEY};
    let dash = |value: Option<String>| value.filter(|v| !v.is_empty()).unwrap_or("-".into());
    let rows = result
        .selection
        .instances
        .iter()
        .map(|registered| {
            let instance = &registered.instance;
            let health = if instance.enabled {
                instance.health().to_string()
            } else {
                format!("{} (disabled)", instance.health())
            };
            let other_metadata: Vec<String> = instance
                .metadata()
                .into_iter()
                .filter(|(key, _)| {
                    ![HEALTH_KEY, WEIGHT_KEY, ZONE_KEY, TAGS_KEY].contains(&key.as_str())
                })
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            vec![
                registered.node.clone(),
                dash(instance.address.clone()),
                dash(instance.port.map(|p| p.to_string())),
                dash(instance.ssl_port.map(|p| p.to_string())),
                health,
                arbor_naming::instance::format_weight(instance.weight()),
                dash(instance.zone()),
                dash(Some(instance.tags().join(","))),
                instance.service_type.to_string(),
                dash(Some(other_metadata.join(","))),
            ]
        })
        .collect();
    table(
        &[
            "ID", "ADDRESS", "PORT", "SSL", "HEALTH", "WEIGHT", "ZONE", "TAGS", "TYPE", "METADATA",
        ],
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_naming::query::HealthFilter;

    #[test]
    fn tables_align_columns_and_trim_line_ends() {
        let text = table(
            &["A", "LONGER"],
            vec![
                vec!["wide-cell".into(), "x".into()],
                vec!["b".into(), "".into()],
            ],
        );
        assert_eq!(text, "A          LONGER\nwide-cell  x\nb\n");
    }

    #[test]
    fn register_arguments_become_an_instance() {
        let args = RegisterArgs {
            service: "web".into(),
            address: "10.0.0.1".into(),
            port: Some(8080),
            ssl_port: None,
            id: None,
            service_type: "static".into(),
            health: "down".into(),
            weight: Some("3".into()),
            zone: Some("eu".into()),
            tags: vec!["a".into(), "b".into()],
            metadata: vec!["team=core".into()],
            uri_spec: "{scheme}://{address}:{port}".into(),
            payload_class: None,
        };
        let instance = match instance_from_args(&args) {
            Ok(instance) => instance,
            Err(failure) => panic!("{}", failure.message),
        };
        assert_eq!(instance.id, "10.0.0.1:8080");
        assert_eq!(instance.service_type, ServiceType::Static);
        assert_eq!(instance.health(), HealthStatus::Down);
        assert_eq!(instance.weight(), 3.0);
        assert_eq!(instance.tags(), vec!["a", "b"]);
        assert_eq!(instance.metadata_value("team").as_deref(), Some("core"));

        let bad = |change: fn(&mut RegisterArgs)| {
            let mut args = args.clone();
            change(&mut args);
            instance_from_args(&args).err().map(|failure| failure.code)
        };
        assert_eq!(bad(|a| a.service_type = "elastic".into()), Some(EXIT_USAGE));
        assert_eq!(bad(|a| a.health = "sleepy".into()), Some(EXIT_USAGE));
        assert_eq!(bad(|a| a.weight = Some("-2".into())), Some(EXIT_USAGE));
        assert_eq!(
            bad(|a| a.metadata = vec!["novalue".into()]),
            Some(EXIT_USAGE)
        );
        assert_eq!(bad(|a| a.uri_spec = "{open".into()), Some(EXIT_USAGE));
        assert_eq!(bad(|a| a.id = Some("a/b".into())), Some(EXIT_USAGE));
        assert_eq!(bad(|a| a.payload_class = Some("none".into())), None);
    }

    #[test]
    fn health_filter_names_are_the_queries() {
        let filters = FilterArgs {
            health: "any".into(),
            zone: None,
            tags: vec![],
            metadata: vec![],
            protect: Some("50%".into()),
        };
        let query = filters.query().ok().unwrap();
        assert_eq!(query.health, HealthFilter::Any);
        assert_eq!(query.protection_threshold, Some(0.5));
    }
}
