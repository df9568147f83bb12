//! Reading agent.yaml and the conf.d directory beside it.

use std::path::{Path, PathBuf};

use super::{parse, AgentConfig, ConfigErrors, Document};

/// `conf.d/` in the directory of the main config file.
pub fn conf_d_dir(config_path: &Path) -> PathBuf {
    config_path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("conf.d")
}

/// Whether a directory entry is a conf.d document: `*.yaml` or `*.yml`, not hidden (editors'
/// swap and backup files start with a dot or end otherwise).
pub fn is_fragment_name(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"))
}

/// The main document and the conf.d documents in name order. A missing conf.d is fine.
pub fn read_documents(config_path: &Path) -> Result<(Document, Vec<Document>), ConfigErrors> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|text| Document {
                path: path.to_path_buf(),
                text,
            })
            .map_err(|err| ConfigErrors::single(path, format!("cannot read: {err}")))
    };
    let main = read(config_path)?;
    let dir = conf_d_dir(config_path);
    let mut names = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry
                    .map_err(|err| ConfigErrors::single(&dir, format!("cannot list: {err}")))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if is_fragment_name(&name) && entry.path().is_file() {
                    names.push(name);
                }
            }
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(ConfigErrors::single(&dir, format!("cannot list: {err}"))),
    }
    names.sort();
    let mut fragments = Vec::new();
    for name in names {
        match read(&dir.join(&name)) {
            Ok(document) => fragments.push(document),
            // Removed between listing and reading: an editor's rename dance; the next event
            // reloads again.
            Err(_) if !dir.join(&name).exists() => {}
            Err(err) => return Err(err),
        }
    }
    Ok((main, fragments))
}

/// Reads and parses the whole configuration.
pub fn load(config_path: &Path) -> Result<AgentConfig, ConfigErrors> {
    let (main, fragments) = read_documents(config_path)?;
    parse(&main, &fragments, &host_name())
}

/// The machine's host name (`gethostname`), or `localhost` if it cannot be read.
pub fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return "localhost".to_string();
    }
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    match std::str::from_utf8(&buffer[..end]) {
        Ok(name) if !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_names() {
        assert!(is_fragment_name("web.yaml"));
        assert!(is_fragment_name("web.yml"));
        assert!(!is_fragment_name(".web.yaml.swp"));
        assert!(!is_fragment_name("web.yaml~"));
        assert!(!is_fragment_name(".#web.yaml"));
        assert!(!is_fragment_name("README"));
    }

    #[test]
    fn reads_main_and_sorted_fragments() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("agent.yaml");
        std::fs::write(&main, "servers: h:1\ncache_dir: /c\n").unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("conf.d/b.yaml"),
            "services: [{name: b, id: b, port: 2}]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("conf.d/a.yaml"),
            "services: [{name: a, id: a, port: 1}]\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("conf.d/.a.yaml.swp"), "garbage: [").unwrap();
        let (_, fragments) = read_documents(&main).unwrap();
        let names: Vec<_> = fragments
            .iter()
            .map(|d| d.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.yaml", "b.yaml"]);
        let config = load(&main).unwrap();
        assert_eq!(config.services.len(), 2);
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agent/agent.yaml");
        let config = load(&example).unwrap_or_else(|errors| panic!("{errors}"));
        assert_eq!(config.services.len(), 3, "agent.yaml and conf.d together");
        assert_eq!(config.files.len(), 2);
    }

    #[test]
    fn a_missing_main_file_is_an_error_naming_it() {
        let err = load(Path::new("/nonexistent/agent.yaml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/nonexistent/agent.yaml: cannot read"),
            "{err}"
        );
    }
}
