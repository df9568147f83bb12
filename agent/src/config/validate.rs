//! Rules serde cannot express: value ranges, one-of choices, names that must be znode-safe.
//! Each problem carries the key path it is about; the loader turns that into a line.

use std::path::Path;

use arbor_naming::instance::{validate_node_name, MAX_WEIGHT};

use super::key_path::KeyPath;
use super::model::{
    CheckSpec, CommandLine, CommandSpec, FileSpec, FragmentDocument, MainDocument, ServiceSpec,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub key: KeyPath,
    pub message: String,
}

fn problem(key: KeyPath, message: impl Into<String>) -> Problem {
    Problem {
        key,
        message: message.into(),
    }
}

pub fn main_document(doc: &MainDocument) -> Vec<Problem> {
    let root = KeyPath::root();
    let mut problems = Vec::new();
    if let Err(message) = connect_string(&doc.servers) {
        problems.push(problem(root.key("servers"), message));
    }
    if doc.session_timeout < std::time::Duration::from_millis(500)
        || doc.session_timeout > std::time::Duration::from_secs(600)
    {
        problems.push(problem(
            root.key("session_timeout"),
            "must be between 500ms and 10m",
        ));
    }
    if !doc.cache_dir.is_absolute() {
        problems.push(problem(root.key("cache_dir"), "must be an absolute path"));
    }
    if let Some(name) = &doc.host.name {
        // Part of default instance ids.
        if let Err(err) = validate_node_name("host name", name) {
            problems.push(problem(root.key("host").key("name"), err.to_string()));
        }
    }
    problems.extend(entries(&doc.services, &doc.files));
    problems
}

pub fn fragment_document(doc: &FragmentDocument) -> Vec<Problem> {
    entries(&doc.services, &doc.files)
}

fn entries(services: &[ServiceSpec], files: &[FileSpec]) -> Vec<Problem> {
    let root = KeyPath::root();
    let mut problems = Vec::new();
    for (index, spec) in services.iter().enumerate() {
        problems.extend(service(spec, &root.key("services").index(index)));
    }
    for (index, spec) in files.iter().enumerate() {
        problems.extend(file(spec, &root.key("files").index(index)));
    }
    problems
}

/// `host:port[,host:port...][/chroot]`.
fn connect_string(servers: &str) -> Result<(), String> {
    let hosts = match servers.find('/') {
        Some(slash) => &servers[..slash],
        None => servers,
    };
    if hosts.trim().is_empty() {
        return Err("must list at least one host:port".into());
    }
    for entry in hosts.split(',') {
        let entry = entry.trim();
        let port = entry
            .rsplit_once(':')
            .map(|(host, port)| (host, port.parse::<u16>()));
        match port {
            Some((host, Ok(port))) if !host.is_empty() && port != 0 => {}
            _ => return Err(format!("`{entry}` is not host:port")),
        }
    }
    Ok(())
}

fn service(spec: &ServiceSpec, key: &KeyPath) -> Vec<Problem> {
    let mut problems = Vec::new();
    // The registry's own rules for names (shared with arbor-naming).
    if let Err(err) = validate_node_name("service name", &spec.name) {
        problems.push(problem(key.key("name"), err.to_string()));
    }
    if let Some(id) = &spec.id {
        if let Err(err) = validate_node_name("instance id", id) {
            problems.push(problem(key.key("id"), err.to_string()));
        }
    }
    if let Some(weight) = spec.weight {
        if f64::from(weight) > MAX_WEIGHT {
            problems.push(problem(
                key.key("weight"),
                format!("{weight} is larger than {MAX_WEIGHT}"),
            ));
        }
    }
    if spec.port == 0 {
        problems.push(problem(key.key("port"), "must be 1..65535"));
    }
    if let Some(address) = &spec.address {
        if address.trim().is_empty() {
            problems.push(problem(key.key("address"), "must not be empty"));
        }
    }
    if let Some(check) = &spec.check {
        problems.extend(check_spec(check, &key.key("check")));
    }
    problems
}

fn check_spec(check: &CheckSpec, key: &KeyPath) -> Vec<Problem> {
    let mut problems = Vec::new();
    let kinds = [
        check.tcp.is_some(),
        check.http.is_some(),
        check.exec.is_some(),
    ];
    match kinds.iter().filter(|set| **set).count() {
        1 => {}
        0 => problems.push(problem(key.clone(), "needs one of tcp, http or exec")),
        _ => problems.push(problem(
            key.clone(),
            "has more than one of tcp, http and exec; choose one",
        )),
    }
    if let Some(tcp) = &check.tcp {
        if let Err(message) = connect_string(tcp).map_err(|_| format!("`{tcp}` is not host:port")) {
            problems.push(problem(key.key("tcp"), message));
        }
    }
    if let Some(url) = &check.http {
        if let Err(message) = crate::checks::parse_http_url(url) {
            problems.push(problem(key.key("http"), message));
        }
    }
    if let Some(command) = &check.exec {
        if let Err(message) = command_line(command) {
            problems.push(problem(key.key("exec"), message));
        }
    }
    if check.interval.is_zero() {
        problems.push(problem(key.key("interval"), "must be greater than 0"));
    }
    if check.timeout.is_zero() {
        problems.push(problem(key.key("timeout"), "must be greater than 0"));
    }
    if check.deregister_after == 0 {
        problems.push(problem(key.key("deregister_after"), "must be at least 1"));
    }
    problems
}

fn command_line(command: &CommandLine) -> Result<(), String> {
    match command {
        CommandLine::Shell(text) if text.trim().is_empty() => Err("command is empty".into()),
        CommandLine::Argv(argv) if argv.is_empty() || argv[0].is_empty() => {
            Err("argv is empty".into())
        }
        _ => Ok(()),
    }
}

fn command_spec(command: &CommandSpec, key: &KeyPath, problems: &mut Vec<Problem>) {
    if let Err(message) = command_line(&command.command) {
        problems.push(problem(key.clone(), message));
    }
    if command.timeout.is_zero() {
        problems.push(problem(key.key("timeout"), "must be greater than 0"));
    }
}

fn file(spec: &FileSpec, key: &KeyPath) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Err(message) = destination(&spec.dest) {
        problems.push(problem(key.key("dest"), message));
    }
    if let Some(owner) = &spec.owner {
        if let Err(message) = owner_syntax(owner) {
            problems.push(problem(key.key("owner"), message));
        }
    }
    if let Some(check) = &spec.check {
        command_spec(check, &key.key("check"), &mut problems);
    }
    if let Some(reload) = &spec.reload {
        command_spec(reload, &key.key("reload"), &mut problems);
    }
    if spec.wait.min > spec.wait.max {
        problems.push(problem(
            key.key("wait"),
            format!(
                "min ({:?}) is larger than max ({:?})",
                spec.wait.min, spec.wait.max
            ),
        ));
    }
    problems
}

fn destination(dest: &Path) -> Result<(), String> {
    let text = dest.to_string_lossy();
    if !dest.is_absolute() {
        return Err(format!("`{text}` must be an absolute path"));
    }
    if text.ends_with('/') || dest.file_name().is_none() {
        return Err(format!("`{text}` must name a file"));
    }
    if dest
        .components()
        .any(|part| matches!(part, std::path::Component::ParentDir))
    {
        return Err(format!("`{text}` must not contain `..`"));
    }
    Ok(())
}

fn owner_syntax(owner: &str) -> Result<(), String> {
    let (user, group) = match owner.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (owner, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) || owner.contains(char::is_whitespace) {
        return Err(format!("`{owner}` must be `user` or `user:group`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main_doc(text: &str) -> MainDocument {
        serde_yaml::from_str(text).expect("parses")
    }

    fn keys(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(|p| p.key.to_string()).collect()
    }

    #[test]
    fn a_good_document_has_no_problems() {
        let doc = main_doc(
            "servers: 10.0.0.1:2181,10.0.0.2:2181/arbor\ncache_dir: /var/cache/a\nservices:\n  - {name: web, port: 80, check: {tcp: 'localhost:80'}}\nfiles:\n  - {source: prod/web/app.yaml, dest: /etc/web/app.yaml, owner: 'www:www', wait: '1s:5s'}\n",
        );
        assert_eq!(main_document(&doc), vec![]);
    }

    #[test]
    fn globals_are_checked() {
        let doc = main_doc(
            "servers: 'nohostport'\nsession_timeout: 1h\ncache_dir: rel\nhost: {name: 'a/b'}\n",
        );
        assert_eq!(
            keys(&main_document(&doc)),
            ["servers", "session_timeout", "cache_dir", "host.name"]
        );
    }

    #[test]
    fn services_and_checks_are_checked() {
        let doc = main_doc(
            "servers: a:1\nservices:\n  - {name: '', id: '..', port: 0, weight: 10001}\n  - {name: ok, port: 1, check: {interval: 0s, deregister_after: 0}}\n  - {name: ok2, port: 1, check: {tcp: 'a:1', http: 'http://a/'}}\n  - {name: ok3, port: 1, check: {http: 'ftp://x', exec: []}}\n",
        );
        assert_eq!(
            keys(&main_document(&doc)),
            [
                "services[0].name",
                "services[0].id",
                "services[0].weight",
                "services[0].port",
                "services[1].check",
                "services[1].check.interval",
                "services[1].check.deregister_after",
                "services[2].check",
                "services[3].check",
                "services[3].check.http",
                "services[3].check.exec",
            ]
        );
    }

    #[test]
    fn files_are_checked() {
        let doc = main_doc(
            "servers: a:1\nfiles:\n  - {source: 'p/a/x.txt', dest: rel/x, owner: ':g', reload: '', wait: {min: 5s, max: 1s}}\n  - {source: p/a/n.txt, dest: /etc/, check: {command: [], timeout: 0s}}\n  - {source: p/a/n.txt, dest: /etc/../x}\n",
        );
        assert_eq!(
            keys(&main_document(&doc)),
            [
                "files[0].dest",
                "files[0].owner",
                "files[0].reload",
                "files[0].wait",
                "files[1].dest",
                "files[1].check",
                "files[1].check.timeout",
                "files[2].dest",
            ]
        );
    }
}
