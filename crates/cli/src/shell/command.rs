//! Parsing a command's words (`["create", "-e", "/a", "data"]`) into a [`Command`].

use std::fmt;

use zookeeper_client::CreateMode;

/// One shell command with its arguments checked, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ls {
        path: String,
        stat: bool,
        watch: bool,
        recursive: bool,
    },
    Get {
        path: String,
        stat: bool,
        watch: bool,
    },
    Set {
        path: String,
        data: String,
        stat: bool,
        version: Option<i32>,
    },
    Create {
        path: String,
        data: String,
        acl: Option<String>,
        mode: CreateMode,
        ttl_ms: Option<u64>,
    },
    Stat {
        path: String,
        watch: bool,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
    DeleteAll {
        path: String,
    },
    GetAcl {
        path: String,
        stat: bool,
    },
    SetAcl {
        path: String,
        acl: String,
        stat: bool,
        version: Option<i32>,
        recursive: bool,
    },
    AddAuth {
        scheme: String,
        auth: String,
    },
    Sync {
        path: String,
    },
    GetEphemerals {
        path: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    WhoAmI,
    Help,
    Quit,
}

/// Every command's name and zkCli-style usage line, in the order `help` lists them.
pub const USAGES: &[(&str, &str)] = &[
    ("addauth", "addauth scheme auth"),
    ("create", "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "delete [-v version] path"),
    ("deleteall", "deleteall path"),
    ("get", "get [-s] [-w] path"),
    ("getAcl", "getAcl [-s] path"),
    ("getAllChildrenNumber", "getAllChildrenNumber path"),
    ("getEphemerals", "getEphemerals [path]"),
    ("help", "help"),
    ("ls", "ls [-s] [-w] [-R] path"),
    ("quit", "quit"),
    ("set", "set [-s] [-v version] path data"),
    ("setAcl", "setAcl [-s] [-v version] [-R] path acl"),
    ("stat", "stat [-w] path"),
    ("sync", "sync path"),
    ("whoami", "whoami"),
];

/// Why a command line could not be turned into a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// No command of that name.
    UnknownCommand(String),
    /// Wrong number of arguments: the usage line is the message, as in zkCli.
    Usage { usage: &'static str },
    /// A `-x` the command does not have.
    UnknownOption { option: String, usage: &'static str },
    /// An option that needs a value came last.
    MissingValue { option: char, usage: &'static str },
    /// An argument with a bad value, e.g. `-v abc` or a relative path.
    Invalid(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownCommand(name) => write!(f, "Command not found: {name}"),
            ParseError::Usage { usage } => f.write_str(usage),
            ParseError::UnknownOption { option, usage } => {
                write!(f, "Unrecognized option: {option}\n{usage}")
            }
            ParseError::MissingValue { option, usage } => {
                write!(f, "Missing argument for option: {option}\n{usage}")
            }
            ParseError::Invalid(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ParseError {}

/// Parses a command from its words; `words[0]` is the command name.
pub fn parse_command(words: &[String]) -> Result<Command, ParseError> {
    let Some((name, rest)) = words.split_first() else {
        return Err(ParseError::UnknownCommand(String::new()));
    };
    let usage = USAGES
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, u)| *u)
        .ok_or_else(|| ParseError::UnknownCommand(name.clone()))?;
    let parser = CommandParser { usage };
    match name.as_str() {
        "ls" => {
            let args = parser.options(rest, "swR", "")?;
            Ok(Command::Ls {
                path: parser.single_path(&args)?,
                stat: args.has('s'),
                watch: args.has('w'),
                recursive: args.has('R'),
            })
        }
        "get" => {
            let args = parser.options(rest, "sw", "")?;
            let path = parser.single_path(&args)?;
            Ok(Command::Get {
                path,
                stat: args.has('s'),
                watch: args.has('w'),
            })
        }
        "set" => {
            let args = parser.options(rest, "s", "v")?;
            let [path, data] = parser.exactly::<2>(&args)?;
            Ok(Command::Set {
                path: checked_path(path)?,
                data: data.to_string(),
                stat: args.has('s'),
                version: args.number('v', "version")?,
            })
        }
        "create" => parse_create(&parser, rest),
        "stat" => {
            let args = parser.options(rest, "w", "")?;
            Ok(Command::Stat {
                path: parser.single_path(&args)?,
                watch: args.has('w'),
            })
        }
        "delete" => {
            let args = parser.options(rest, "", "v")?;
            Ok(Command::Delete {
                path: parser.single_path(&args)?,
                version: args.number('v', "version")?,
            })
        }
        "deleteall" => {
            let args = parser.options(rest, "", "")?;
            Ok(Command::DeleteAll {
                path: parser.single_path(&args)?,
            })
        }
        "getAcl" => {
            let args = parser.options(rest, "s", "")?;
            Ok(Command::GetAcl {
                path: parser.single_path(&args)?,
                stat: args.has('s'),
            })
        }
        "setAcl" => {
            let args = parser.options(rest, "sR", "v")?;
            let [path, acl] = parser.exactly::<2>(&args)?;
            Ok(Command::SetAcl {
                path: checked_path(path)?,
                acl: acl.to_string(),
                stat: args.has('s'),
                version: args.number('v', "version")?,
                recursive: args.has('R'),
            })
        }
        "addauth" => {
            let args = parser.options(rest, "", "")?;
            let [scheme, auth] = parser.exactly::<2>(&args)?;
            Ok(Command::AddAuth {
                scheme: scheme.to_string(),
                auth: auth.to_string(),
            })
        }
        "sync" => {
            let args = parser.options(rest, "", "")?;
            Ok(Command::Sync {
                path: parser.single_path(&args)?,
            })
        }
        "getEphemerals" => {
            let args = parser.options(rest, "", "")?;
            let path = match parser.positional(&args, 0, 1)?.first() {
                Some(path) => checked_path(path)?,
                None => "/".to_string(),
            };
            Ok(Command::GetEphemerals { path })
        }
        "getAllChildrenNumber" => {
            let args = parser.options(rest, "", "")?;
            Ok(Command::GetAllChildrenNumber {
                path: parser.single_path(&args)?,
            })
        }
        "whoami" => parser.no_arguments(rest, Command::WhoAmI),
        "help" => Ok(Command::Help),
        "quit" => parser.no_arguments(rest, Command::Quit),
        _ => Err(ParseError::UnknownCommand(name.clone())),
    }
}

fn parse_create(parser: &CommandParser, rest: &[String]) -> Result<Command, ParseError> {
    let args = parser.options(rest, "sec", "t")?;
    let positional = parser.positional(&args, 1, 3)?;
    let (sequential, ephemeral, container) = (args.has('s'), args.has('e'), args.has('c'));
    let ttl_ms = args.number::<u64>('t', "ttl")?;
    if container && (sequential || ephemeral) {
        return Err(ParseError::Invalid(
            "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."
                .into(),
        ));
    }
    if ttl_ms.is_some() && ephemeral {
        return Err(ParseError::Invalid(
            "TTLs cannot be used with Ephemeral znodes".into(),
        ));
    }
    if ttl_ms.is_some() && container {
        return Err(ParseError::Invalid(
            "TTLs cannot be used with Container znodes".into(),
        ));
    }
    let mode = match (sequential, ephemeral, container) {
        (_, _, true) => CreateMode::Container,
        (true, true, false) => CreateMode::EphemeralSequential,
        (true, false, false) => CreateMode::PersistentSequential,
        (false, true, false) => CreateMode::Ephemeral,
        (false, false, false) => CreateMode::Persistent,
    };
    let Some(&path) = positional.first() else {
        return Err(ParseError::Usage {
            usage: parser.usage,
        });
    };
    // A sequential name may end in `/`: the server appends the sequence number.
    if !sequential || path != "/" {
        validate_path_start(path)?;
    }
    if !sequential {
        validate_path_end(path)?;
    }
    Ok(Command::Create {
        path: path.to_string(),
        data: positional.get(1).map(|d| d.to_string()).unwrap_or_default(),
        acl: positional.get(2).map(|a| a.to_string()),
        mode,
        ttl_ms,
    })
}

/// Checks a node path the way the ZooKeeper client does before sending it.
fn checked_path(path: &str) -> Result<String, ParseError> {
    validate_path_start(path)?;
    validate_path_end(path)?;
    Ok(path.to_string())
}

fn validate_path_start(path: &str) -> Result<(), ParseError> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(ParseError::Invalid(
            "Path must start with / character".into(),
        ))
    }
}

fn validate_path_end(path: &str) -> Result<(), ParseError> {
    if path.len() > 1 && path.ends_with('/') {
        Err(ParseError::Invalid(
            "Path must not end with / character".into(),
        ))
    } else {
        Ok(())
    }
}

/// Splits one command's words into options and positional arguments.
struct CommandParser {
    usage: &'static str,
}

/// Options seen (with their value, if they take one) and positional arguments, in order.
struct Arguments<'a> {
    options: Vec<(char, Option<&'a str>)>,
    positional: Vec<&'a str>,
}

impl Arguments<'_> {
    fn has(&self, option: char) -> bool {
        self.options.iter().any(|(o, _)| *o == option)
    }

    /// The last value given for a numeric option, if any.
    fn number<T: std::str::FromStr>(
        &self,
        option: char,
        what: &str,
    ) -> Result<Option<T>, ParseError> {
        let value = self
            .options
            .iter()
            .rev()
            .find(|(o, _)| *o == option)
            .and_then(|(_, v)| *v);
        value
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| ParseError::Invalid(format!("{what} must be a number: {v}")))
            })
            .transpose()
    }
}

impl CommandParser {
    /// Separates options from positional arguments. As with zkCli's option parser, options may
    /// appear anywhere and flags may be bundled (`-se`). A word that starts with `-` but not with
    /// a letter (`-1`, `-`) is a positional argument, so negative numbers work as data.
    fn options<'a>(
        &self,
        words: &'a [String],
        flags: &str,
        valued: &str,
    ) -> Result<Arguments<'a>, ParseError> {
        let mut arguments = Arguments {
            options: Vec::new(),
            positional: Vec::new(),
        };
        let mut words = words.iter();
        while let Some(word) = words.next() {
            let Some(letters) = word
                .strip_prefix('-')
                .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
            else {
                arguments.positional.push(word);
                continue;
            };
            for (index, letter) in letters.char_indices() {
                if flags.contains(letter) {
                    arguments.options.push((letter, None));
                } else if valued.contains(letter) {
                    // The value is the rest of this word (`-v3`) or the next word (`-v 3`).
                    let inline = &letters[index + letter.len_utf8()..];
                    let value = if inline.is_empty() {
                        words
                            .next()
                            .map(String::as_str)
                            .ok_or(ParseError::MissingValue {
                                option: letter,
                                usage: self.usage,
                            })?
                    } else {
                        inline
                    };
                    arguments.options.push((letter, Some(value)));
                    break;
                } else {
                    return Err(ParseError::UnknownOption {
                        option: format!("-{letter}"),
                        usage: self.usage,
                    });
                }
            }
        }
        Ok(arguments)
    }

    /// The positional arguments, checked to number between `min` and `max`.
    fn positional<'a>(
        &self,
        args: &Arguments<'a>,
        min: usize,
        max: usize,
    ) -> Result<Vec<&'a str>, ParseError> {
        if (min..=max).contains(&args.positional.len()) {
            Ok(args.positional.clone())
        } else {
            Err(ParseError::Usage { usage: self.usage })
        }
    }

    /// Exactly `N` positional arguments.
    fn exactly<'a, const N: usize>(
        &self,
        args: &Arguments<'a>,
    ) -> Result<[&'a str; N], ParseError> {
        args.positional
            .clone()
            .try_into()
            .map_err(|_| ParseError::Usage { usage: self.usage })
    }

    fn single_path(&self, args: &Arguments<'_>) -> Result<String, ParseError> {
        let [path] = self.exactly::<1>(args)?;
        checked_path(path)
    }

    fn no_arguments(&self, rest: &[String], command: Command) -> Result<Command, ParseError> {
        if rest.is_empty() {
            Ok(command)
        } else {
            Err(ParseError::Usage { usage: self.usage })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, ParseError> {
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse_command(&words)
    }

    #[test]
    fn ls_flags_in_any_position_and_bundled() {
        assert_eq!(
            parse("ls -s -R /a").unwrap(),
            Command::Ls {
                path: "/a".into(),
                stat: true,
                watch: false,
                recursive: true
            }
        );
        assert_eq!(
            parse("ls /a -w").unwrap(),
            Command::Ls {
                path: "/a".into(),
                stat: false,
                watch: true,
                recursive: false
            }
        );
        assert_eq!(
            parse("ls -sw /").unwrap(),
            Command::Ls {
                path: "/".into(),
                stat: true,
                watch: true,
                recursive: false
            }
        );
    }

    #[test]
    fn wrong_arity_gives_the_usage_line() {
        assert_eq!(parse("get").unwrap_err().to_string(), "get [-s] [-w] path");
        assert_eq!(
            parse("set /a").unwrap_err().to_string(),
            "set [-s] [-v version] path data"
        );
        assert_eq!(parse("whoami extra").unwrap_err().to_string(), "whoami");
    }

    #[test]
    fn set_with_version_in_both_spellings() {
        let expected = Command::Set {
            path: "/a".into(),
            data: "x".into(),
            stat: true,
            version: Some(3),
        };
        assert_eq!(parse("set -s -v 3 /a x").unwrap(), expected);
        assert_eq!(parse("set -s -v3 /a x").unwrap(), expected);
    }

    #[test]
    fn negative_numbers_are_data_not_options() {
        assert_eq!(
            parse("set /a -1").unwrap(),
            Command::Set {
                path: "/a".into(),
                data: "-1".into(),
                stat: false,
                version: None
            }
        );
    }

    #[test]
    fn bad_numbers_and_options() {
        assert_eq!(
            parse("delete -v x /a").unwrap_err().to_string(),
            "version must be a number: x"
        );
        assert_eq!(
            parse("get -x /a").unwrap_err().to_string(),
            "Unrecognized option: -x\nget [-s] [-w] path"
        );
        assert_eq!(
            parse("delete /a -v").unwrap_err(),
            ParseError::MissingValue {
                option: 'v',
                usage: "delete [-v version] path"
            }
        );
    }

    #[test]
    fn create_modes() {
        let mode = |line: &str| match parse(line).unwrap() {
            Command::Create { mode, .. } => mode,
            other => panic!("not a create: {other:?}"),
        };
        assert_eq!(mode("create /a"), CreateMode::Persistent);
        assert_eq!(mode("create -s /a"), CreateMode::PersistentSequential);
        assert_eq!(mode("create -e /a"), CreateMode::Ephemeral);
        assert_eq!(mode("create -s -e /a"), CreateMode::EphemeralSequential);
        assert_eq!(mode("create -c /a"), CreateMode::Container);
        assert_eq!(
            mode("create -t 500 -s /a"),
            CreateMode::PersistentSequential
        );
    }

    #[test]
    fn create_arguments() {
        assert_eq!(
            parse("create -t 1000 /a d world:anyone:r").unwrap(),
            Command::Create {
                path: "/a".into(),
                data: "d".into(),
                acl: Some("world:anyone:r".into()),
                mode: CreateMode::Persistent,
                ttl_ms: Some(1000),
            }
        );
        assert_eq!(
            parse("create /a").unwrap(),
            Command::Create {
                path: "/a".into(),
                data: String::new(),
                acl: None,
                mode: CreateMode::Persistent,
                ttl_ms: None
            }
        );
    }

    #[test]
    fn create_rejects_contradictory_modes() {
        assert!(matches!(
            parse("create -c -e /a"),
            Err(ParseError::Invalid(_))
        ));
        assert_eq!(
            parse("create -e -t 5 /a").unwrap_err().to_string(),
            "TTLs cannot be used with Ephemeral znodes"
        );
        assert!(matches!(
            parse("create -c -t 5 /a"),
            Err(ParseError::Invalid(_))
        ));
    }

    #[test]
    fn paths_are_validated() {
        assert_eq!(
            parse("create a").unwrap_err().to_string(),
            "Path must start with / character"
        );
        assert_eq!(
            parse("get /a/").unwrap_err().to_string(),
            "Path must not end with / character"
        );
        // A sequential prefix may end in `/`.
        assert!(parse("create -s /queue/").is_ok());
    }

    #[test]
    fn get_ephemerals_defaults_to_root() {
        assert_eq!(
            parse("getEphemerals").unwrap(),
            Command::GetEphemerals { path: "/".into() }
        );
        assert_eq!(
            parse("getEphemerals /a").unwrap(),
            Command::GetEphemerals { path: "/a".into() }
        );
    }

    #[test]
    fn set_acl_and_addauth() {
        assert_eq!(
            parse("setAcl -R -v 2 /a world:anyone:r").unwrap(),
            Command::SetAcl {
                path: "/a".into(),
                acl: "world:anyone:r".into(),
                stat: false,
                version: Some(2),
                recursive: true
            }
        );
        assert_eq!(
            parse("addauth digest u:p").unwrap(),
            Command::AddAuth {
                scheme: "digest".into(),
                auth: "u:p".into()
            }
        );
    }

    #[test]
    fn unknown_command() {
        assert_eq!(
            parse("exists /a").unwrap_err(),
            ParseError::UnknownCommand("exists".into())
        );
        assert_eq!(
            parse("exists /a").unwrap_err().to_string(),
            "Command not found: exists"
        );
    }

    #[test]
    fn every_usage_names_its_command() {
        for (name, usage) in USAGES {
            assert!(usage.starts_with(name), "{usage}");
        }
    }
}
