//! The agent's configuration: agent.yaml plus conf.d/*.yaml, parsed, validated, merged and
//! resolved (defaults filled in) into one [`AgentConfig`].
//!
//! [`parse`] is pure (texts in, config or errors out); [`load`] reads the files.

pub mod duration;
mod key_path;
mod load;
pub use load::is_fragment_name;
pub mod model;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use key_path::{locate, KeyPath, Position};
pub use load::{conf_d_dir, load, read_documents};
pub use model::{CommandLine, CommandSpec, FileMode, FileSpec, SourceSpec, Wait};

use model::{CheckSpec, FragmentDocument, MainDocument, ServiceSpec};

/// One configuration file's text and where it came from.
#[derive(Clone, Debug)]
pub struct Document {
    pub path: PathBuf,
    pub text: String,
}

/// Everything the agent runs, with defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    pub servers: String,
    pub session_timeout: Duration,
    pub cache_dir: PathBuf,
    pub http: Option<SocketAddr>,
    pub host_name: String,
    /// Services by id.
    pub services: BTreeMap<String, Service>,
    /// Files by destination path.
    pub files: BTreeMap<PathBuf, FileSpec>,
}

/// A service as registered: ids and addresses resolved, host labels merged into metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub name: String,
    pub id: String,
    pub address: String,
    pub port: u16,
    pub metadata: BTreeMap<String, String>,
    pub weight: Option<u32>,
    pub check: Option<Check>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub deregister_after: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    Tcp(String),
    Http(String),
    Exec(CommandLine),
}

/// A configuration error with the file, position and key it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub position: Option<Position>,
    /// The key path, when the error is about one (serde's own errors carry it in `message`).
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(position) = self.position {
            write!(f, ":{}:{}", position.line, position.column)?;
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// All problems found in one attempt to load the configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    pub fn single(file: &Path, message: impl Into<String>) -> ConfigErrors {
        ConfigErrors(vec![ConfigError {
            file: file.to_path_buf(),
            position: None,
            key: None,
            message: message.into(),
        }])
    }
}

fn serde_error(file: &Path, err: &serde_yaml::Error) -> ConfigError {
    let text = err.to_string();
    // serde_yaml appends " at line L column C"; the position goes in front instead.
    let message = match (err.location(), text.rfind(" at line ")) {
        (Some(_), Some(cut)) => text[..cut].to_string(),
        _ => text,
    };
    ConfigError {
        file: file.to_path_buf(),
        position: err.location().map(|location| Position {
            line: location.line(),
            column: location.column(),
        }),
        key: None,
        message,
    }
}

fn problem_error(document: &Document, key: &KeyPath, message: String) -> ConfigError {
    ConfigError {
        file: document.path.clone(),
        position: locate(&document.text, key),
        key: Some(key.to_string()),
        message,
    }
}

/// Parses, validates and merges agent.yaml (`main`) and the conf.d documents (in the order
/// given). `fallback_host_name` is used when `host.name` is not set.
pub fn parse(
    main: &Document,
    fragments: &[Document],
    fallback_host_name: &str,
) -> Result<AgentConfig, ConfigErrors> {
    let mut errors = Vec::new();
    let main_doc: Option<MainDocument> = match serde_yaml::from_str(&main.text) {
        Ok(doc) => Some(doc),
        Err(err) => {
            errors.push(serde_error(&main.path, &err));
            None
        }
    };
    if let Some(doc) = &main_doc {
        for problem in validate::main_document(doc) {
            errors.push(problem_error(main, &problem.key, problem.message));
        }
    }
    let mut fragment_docs = Vec::new();
    for fragment in fragments {
        // An empty file (or one with only comments) is an empty fragment, not an error.
        let parsed = if fragment.text.trim().is_empty() {
            Ok(FragmentDocument::default())
        } else {
            serde_yaml::from_str::<Option<FragmentDocument>>(&fragment.text)
                .map(Option::unwrap_or_default)
        };
        match parsed {
            Ok(doc) => {
                for problem in validate::fragment_document(&doc) {
                    errors.push(problem_error(fragment, &problem.key, problem.message));
                }
                fragment_docs.push((fragment, doc));
            }
            Err(err) => errors.push(serde_error(&fragment.path, &err)),
        }
    }
    let Some(main_doc) = main_doc else {
        return Err(ConfigErrors(errors));
    };
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }

    let host_name = main_doc
        .host
        .name
        .clone()
        .unwrap_or_else(|| fallback_host_name.to_string());
    let mut config = AgentConfig {
        servers: main_doc.servers.clone(),
        session_timeout: main_doc.session_timeout,
        cache_dir: main_doc.cache_dir.clone(),
        http: main_doc.http,
        host_name: host_name.clone(),
        services: BTreeMap::new(),
        files: BTreeMap::new(),
    };
    // Where each service id and file dest was first defined, for duplicate errors.
    let mut service_origin: BTreeMap<String, String> = BTreeMap::new();
    let mut file_origin: BTreeMap<PathBuf, String> = BTreeMap::new();
    let documents = std::iter::once((main, &main_doc.services, &main_doc.files)).chain(
        fragment_docs
            .iter()
            .map(|(document, doc)| (*document, &doc.services, &doc.files)),
    );
    let root = KeyPath::root();
    for (document, services, files) in documents {
        for (index, spec) in services.iter().enumerate() {
            let service = resolve_service(spec, &host_name, &main_doc.host.labels);
            let key = root.key("services").index(index);
            let here = format!("{} ({key})", document.path.display());
            if let Some(first) = service_origin.get(&service.id) {
                let id_key = if spec.id.is_some() {
                    key.key("id")
                } else {
                    key
                };
                errors.push(problem_error(
                    document,
                    &id_key,
                    format!("service id `{}` is already defined in {first}", service.id),
                ));
                continue;
            }
            service_origin.insert(service.id.clone(), here);
            config.services.insert(service.id.clone(), service);
        }
        for (index, spec) in files.iter().enumerate() {
            let key = root.key("files").index(index);
            let here = format!("{} ({key})", document.path.display());
            if let Some(first) = file_origin.get(&spec.dest) {
                errors.push(problem_error(
                    document,
                    &key.key("dest"),
                    format!(
                        "dest `{}` is already managed by {first}",
                        spec.dest.display()
                    ),
                ));
                continue;
            }
            file_origin.insert(spec.dest.clone(), here);
            config.files.insert(spec.dest.clone(), spec.clone());
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn resolve_service(
    spec: &ServiceSpec,
    host_name: &str,
    labels: &BTreeMap<String, String>,
) -> Service {
    let mut metadata = labels.clone();
    metadata.extend(spec.metadata.clone());
    Service {
        name: spec.name.clone(),
        id: spec
            .id
            .clone()
            .unwrap_or_else(|| format!("{}-{host_name}-{}", spec.name, spec.port)),
        address: spec
            .address
            .clone()
            .unwrap_or_else(|| host_name.to_string()),
        port: spec.port,
        metadata,
        weight: spec.weight,
        check: spec.check.as_ref().map(resolve_check),
    }
}

fn resolve_check(spec: &CheckSpec) -> Check {
    // Validation guarantees exactly one probe.
    let probe = match (&spec.tcp, &spec.http, &spec.exec) {
        (Some(tcp), _, _) => Probe::Tcp(tcp.clone()),
        (_, Some(url), _) => Probe::Http(url.clone()),
        (_, _, Some(command)) => Probe::Exec(command.clone()),
        _ => Probe::Exec(CommandLine::Argv(vec!["false".into()])),
    };
    Check {
        probe,
        interval: spec.interval,
        timeout: spec.timeout,
        deregister_after: spec.deregister_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(path: &str, text: &str) -> Document {
        Document {
            path: PathBuf::from(path),
            text: text.to_string(),
        }
    }

    const MAIN: &str = "\
servers: 127.0.0.1:2181
session_timeout: 5s
cache_dir: /var/cache/arbor
http: 127.0.0.1:8500
host:
  name: web-1
  labels: {zone: a, rack: r1}
services:
  - name: web
    port: 8080
    metadata: {zone: b}
    weight: 5
    check: {http: 'http://127.0.0.1:8080/health', interval: 2s}
files:
  - source: {env: prod, app: web, name: app.yaml}
    dest: /etc/web/app.yaml
    mode: 0640
    reload: {command: [systemctl, reload, web], timeout: 10s}
    wait: {min: 1s}
    backup: true
";

    #[test]
    fn resolves_defaults_and_merges_labels() {
        let config = parse(&doc("/etc/arbor/agent.yaml", MAIN), &[], "fallback").unwrap();
        assert_eq!(config.host_name, "web-1");
        assert_eq!(config.http, Some("127.0.0.1:8500".parse().unwrap()));
        let web = &config.services["web-web-1-8080"];
        assert_eq!(web.address, "web-1");
        assert_eq!(
            web.metadata["zone"], "b",
            "service metadata wins over labels"
        );
        assert_eq!(web.metadata["rack"], "r1");
        let check = web.check.as_ref().unwrap();
        assert_eq!(
            check.probe,
            Probe::Http("http://127.0.0.1:8080/health".into())
        );
        assert_eq!(check.interval, Duration::from_secs(2));
        assert_eq!(check.deregister_after, 3);
        let file = &config.files[Path::new("/etc/web/app.yaml")];
        assert_eq!(file.mode, Some(FileMode(0o640)));
        assert_eq!(file.source.to_string(), "prod/web/app.yaml");
        assert_eq!(
            file.wait,
            Wait {
                min: Duration::from_secs(1),
                max: Duration::from_secs(4)
            }
        );
        let reload = file.reload.as_ref().unwrap();
        assert_eq!(reload.timeout, Duration::from_secs(10));
        assert!(file.backup);
    }

    #[test]
    fn fragments_add_services_and_files_and_host_name_falls_back() {
        let main = doc("/a/agent.yaml", "servers: h:1\ncache_dir: /c\n");
        let extra = doc(
            "/a/conf.d/db.yaml",
            "services:\n  - {name: db, id: db-1, port: 5432}\nfiles:\n  - {source: p/db/x.properties, dest: /etc/x.conf, check: 'test -s \"$ARBOR_STAGED_FILE\"'}\n",
        );
        let empty = doc("/a/conf.d/empty.yaml", "# nothing yet\n");
        let config = parse(&main, &[extra, empty], "box").unwrap();
        assert_eq!(config.host_name, "box");
        assert_eq!(config.services["db-1"].address, "box");
        assert_eq!(config.session_timeout, Duration::from_secs(10));
        let file = &config.files[Path::new("/etc/x.conf")];
        assert_eq!(
            file.check.as_ref().unwrap().command,
            CommandLine::Shell("test -s \"$ARBOR_STAGED_FILE\"".into())
        );
    }

    #[test]
    fn syntax_and_type_errors_name_file_line_and_key() {
        let main = doc(
            "/a/agent.yaml",
            "servers: h:1\nservices:\n  - name: web\n    port: eighty\n",
        );
        let errors = parse(&main, &[], "box").unwrap_err();
        let text = errors.to_string();
        assert!(
            text.starts_with("/a/agent.yaml:4:11: services[0].port: invalid type"),
            "{text}"
        );

        let typo = doc("/a/agent.yaml", "servers: h:1\nsesion_timeout: 5s\n");
        let text = parse(&typo, &[], "box").unwrap_err().to_string();
        assert!(text.starts_with("/a/agent.yaml:2:1:"), "{text}");
        assert!(text.contains("unknown field `sesion_timeout`"), "{text}");

        let bad_duration = doc(
            "/a/agent.yaml",
            "servers: h:1\nservices:\n  - name: web\n    port: 80\n    check:\n      tcp: 'h:80'\n      interval: soon\n",
        );
        let text = parse(&bad_duration, &[], "box").unwrap_err().to_string();
        assert!(
            text.starts_with("/a/agent.yaml:7:17: services[0].check.interval:"),
            "{text}"
        );
    }

    #[test]
    fn semantic_errors_are_located_in_their_file() {
        let main = doc("/a/agent.yaml", "servers: h:1\ncache_dir: /c\n");
        let fragment = doc(
            "/a/conf.d/x.yaml",
            "files:\n  - source: p/a/n.txt\n    dest: relative.conf\n",
        );
        let errors = parse(&main, &[fragment], "box").unwrap_err();
        assert_eq!(
            errors.to_string(),
            "/a/conf.d/x.yaml:3:11: files[0].dest: `relative.conf` must be an absolute path"
        );
    }

    #[test]
    fn sources_follow_the_config_centers_naming_rules() {
        let main = doc(
            "/a/agent.yaml",
            "servers: h:1\nfiles:\n  - source: prod/web/app.conf\n    dest: /etc/app.conf\n",
        );
        let text = parse(&main, &[], "box").unwrap_err().to_string();
        assert!(
            text.starts_with(
                "/a/agent.yaml:3:13: files[0].source: invalid config name \"app.conf\""
            ),
            "{text}"
        );
        let main = doc(
            "/a/agent.yaml",
            "servers: h:1\nfiles:\n  - source: {env: prod, app: 'we b', name: a.yaml}\n    dest: /etc/app.conf\n",
        );
        let text = parse(&main, &[], "box").unwrap_err().to_string();
        assert!(
            text.contains("files[0].source: invalid app \"we b\""),
            "{text}"
        );
    }

    #[test]
    fn globals_in_a_fragment_are_refused() {
        let main = doc("/a/agent.yaml", "servers: h:1\n");
        let fragment = doc("/a/conf.d/x.yaml", "servers: other:1\n");
        let text = parse(&main, &[fragment], "box").unwrap_err().to_string();
        assert!(text.starts_with("/a/conf.d/x.yaml:1:1:"), "{text}");
        assert!(text.contains("unknown field `servers`"), "{text}");
    }

    #[test]
    fn duplicates_across_files_are_errors() {
        let main = doc(
            "/a/agent.yaml",
            "servers: h:1\nservices:\n  - {name: web, id: w1, port: 80}\nfiles:\n  - {source: p/a/n.txt, dest: /etc/n}\n",
        );
        let fragment = doc(
            "/a/conf.d/x.yaml",
            "services:\n  - name: web2\n    id: w1\n    port: 81\nfiles:\n  - source: p/a/m.txt\n    dest: /etc/n\n",
        );
        let errors = parse(&main, &[fragment], "box").unwrap_err();
        assert_eq!(errors.0.len(), 2, "{errors}");
        assert_eq!(
            errors.0[0].to_string(),
            "/a/conf.d/x.yaml:3:9: services[0].id: service id `w1` is already defined in /a/agent.yaml (services[0])"
        );
        assert_eq!(
            errors.0[1].to_string(),
            "/a/conf.d/x.yaml:7:11: files[0].dest: dest `/etc/n` is already managed by /a/agent.yaml (files[0])"
        );
    }
}
