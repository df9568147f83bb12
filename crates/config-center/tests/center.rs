//! The config center against a real `arbor server`, through `ZkCoord` (the ZooKeeper protocol).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arbor_config_center::format::Format;
use arbor_config_center::layout::{config_path, history_dir, App, ConfigKey, Env};
use arbor_config_center::limits::{Limits, DEFAULT_JUTE_MAX_BUFFER};
use arbor_config_center::projection;
use arbor_config_center::{
    ConfigCenter, ConfigError, DeleteOptions, DiffSide, ErrorKind, PushOptions,
};
use arbor_coord::remote::ZkCoord;
use arbor_coord::{Acl, CoordError, Coordination, CreateKind, DigestCredential};
use arbor_test_support::{ArborEnsemble, ArborOptions, ArborServer};

async fn connect(server: &ArborServer) -> ZkCoord {
    ZkCoord::connect(&server.connect_string(), Duration::from_secs(10))
        .await
        .expect("connect")
}

fn key(env: &str, app: &str, name: &str) -> ConfigKey {
    ConfigKey::parse(env, app, name).unwrap()
}

fn by(author: &str) -> PushOptions {
    PushOptions {
        author: author.to_string(),
        message: format!("pushed by {author}"),
        ..PushOptions::default()
    }
}

/// Every node under `root` (inclusive) with its data and version, for "nothing changed" checks.
async fn dump(coord: &ZkCoord, root: &str) -> BTreeMap<String, (Vec<u8>, i32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_string()];
    while let Some(path) = stack.pop() {
        let Some(node) = coord.get(&path).await.unwrap() else {
            continue;
        };
        out.insert(path.clone(), (node.data, node.stat.version));
        for child in coord.children(&path).await.unwrap().unwrap_or_default() {
            let child_path = if path == "/" {
                format!("/{child}")
            } else {
                format!("{path}/{child}")
            };
            if child_path != "/zookeeper" {
                stack.push(child_path);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formats_history_rollback_retention_and_refusals() {
    let server = ArborServer::start(ArborOptions::new());
    let coord = connect(&server).await;
    let center = ConfigCenter::new(coord.clone());

    // push -> get roundtrip for every format; the plain node holds exactly the bytes.
    let documents: &[(&str, &str)] = &[
        ("application.yml", "server:\n  port: 8080\nnames: [a, b]\n"),
        ("db.yaml", "url: jdbc:x\n"),
        ("feature.json", "{\"flags\": {\"beta\": true}}\n"),
        ("limits.toml", "[http]\nmax_body = 1024\n"),
        (
            "jdbc.properties",
            "# comment\njdbc.url=jdbc:y\njdbc.user = app\n",
        ),
        ("motd.txt", "hello\n\tworld — ünïcode\n"),
    ];
    for (name, content) in documents {
        let key = key("prod", "web", name);
        let outcome = center
            .push(&key, content.as_bytes(), &by("alice"))
            .await
            .unwrap();
        assert_eq!((outcome.version, outcome.changed), (1, true), "{name}");
        let document = center.get(&key, None).await.unwrap();
        assert_eq!(document.content, content.as_bytes(), "{name}");
        assert_eq!(document.version, 1);
        assert!(!document.modified_outside);
        let entry = document.entry.unwrap();
        assert_eq!(
            (entry.author.as_str(), entry.kind.name()),
            ("alice", "push")
        );
        let node = coord.get(&config_path(&key)).await.unwrap().unwrap();
        assert_eq!(node.data, content.as_bytes());
    }
    let names: Vec<String> = center
        .list_configs(&Env::new("prod").unwrap(), &App::new("web").unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|summary| summary.name)
        .collect();
    assert_eq!(
        names,
        vec![
            "application.yml",
            "db.yaml",
            "feature.json",
            "jdbc.properties",
            "limits.toml",
            "motd.txt"
        ]
    );
    assert_eq!(
        center.list_envs().await.unwrap(),
        vec![Env::new("prod").unwrap()]
    );

    // Invalid documents are refused with the parser's line and nothing is written.
    let before = dump(&coord, "/").await;
    let invalid: &[(&str, &str, usize)] = &[
        ("application.yml", "server:\n  port: 8080\n   bad: [\n", 3),
        ("feature.json", "{\n  \"flags\": {\n    \"beta\" true\n}", 3),
        ("limits.toml", "[http]\nmax_body = \n", 2),
        ("jdbc.properties", "a=1\nb=\\u00zz\n", 2),
    ];
    for (name, content, line) in invalid {
        let err = center
            .push(
                &key("prod", "web", name),
                content.as_bytes(),
                &by("mallory"),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{name}: {err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("at line {line}, column ")),
            "{name}: {message}"
        );
    }
    // Bad names and bad content: a clear error each, nothing written.
    for (env, app, name, reason) in [
        ("..", "web", "a.yml", "`.` and `..`"),
        ("", "web", "a.yml", "must not be empty"),
        ("prod", "", "a.yml", "must not be empty"),
        ("prod", "web", "noext", "needs an extension"),
        ("prod", "../etc", "a.yml", "must not contain `/`"),
    ] {
        let err = ConfigKey::parse(env, app, name).unwrap_err();
        assert!(err.to_string().contains(reason), "{err}");
    }
    let binary = center
        .push(
            &key("prod", "web", "application.yml"),
            b"a: \x00\x01\xff\xfe",
            &by("m"),
        )
        .await
        .unwrap_err();
    assert!(binary.to_string().contains("not UTF-8 text"), "{binary}");
    let huge = vec![b'a'; 5 << 20];
    let too_large = center
        .push(&key("prod", "web", "motd.txt"), &huge, &by("m"))
        .await
        .unwrap_err();
    assert_eq!(
        too_large.to_string(),
        "prod/web/motd.txt: document is 5242880 bytes; the limit is 262144 bytes"
    );
    assert_eq!(
        dump(&coord, "/").await,
        before,
        "refused pushes changed the tree"
    );

    // History, rollback and diff.
    let app_yml = key("prod", "web", "application.yml");
    let v2 = "server:\n  port: 9090\nnames: [a, b]\n";
    let v3 = "server:\n  port: 9091\n";
    assert_eq!(
        center
            .push(&app_yml, v2.as_bytes(), &by("bob"))
            .await
            .unwrap()
            .version,
        2
    );
    assert_eq!(
        center
            .push(&app_yml, v3.as_bytes(), &by("carol"))
            .await
            .unwrap()
            .version,
        3
    );
    let again = center
        .push(&app_yml, v3.as_bytes(), &by("carol"))
        .await
        .unwrap();
    assert_eq!(
        (again.version, again.changed),
        (3, false),
        "same content: no new version"
    );
    let rollback = center.rollback(&app_yml, 1, &by("ops")).await.unwrap();
    assert_eq!((rollback.version, rollback.changed), (4, true));
    let live = center.get(&app_yml, None).await.unwrap();
    assert_eq!(
        live.content,
        documents[0].1.as_bytes(),
        "rollback restores v1's bytes"
    );
    assert_eq!(
        live.sha256,
        center.get(&app_yml, Some(1)).await.unwrap().sha256
    );
    let history = center.history(&app_yml).await.unwrap();
    let summary: Vec<(u64, &str, Option<u64>, &str)> = history
        .iter()
        .map(|e| (e.version, e.kind.name(), e.rollback_of, e.author.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (4, "rollback", Some(1), "ops"),
            (3, "push", None, "carol"),
            (2, "push", None, "bob"),
            (1, "push", None, "alice"),
        ]
    );
    assert_eq!(history[0].message, "pushed by ops");
    let diff = center
        .diff(&app_yml, DiffSide::Version(2), DiffSide::Version(3))
        .await
        .unwrap();
    assert!(
        diff.contains("\n-  port: 9090\n-names: [a, b]\n+  port: 9091\n"),
        "{diff}"
    );
    assert!(diff.starts_with("--- prod/web/application.yml@v2\n+++ prod/web/application.yml@v3\n"));
    let local = center
        .diff(
            &app_yml,
            DiffSide::Current,
            DiffSide::Content {
                label: "local.yml".into(),
                bytes: v2.as_bytes().to_vec(),
            },
        )
        .await
        .unwrap();
    assert!(local.contains("+  port: 9090"), "{local}");
    assert!(local.contains("@v4 (live)"), "{local}");

    // Conditional push: the right expected version wins, a stale one is refused.
    let stale = center
        .push(
            &app_yml,
            b"x: 1\n",
            &PushOptions {
                expect_version: Some(3),
                ..by("late")
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale,
            ConfigError::Conflict {
                expected: 3,
                current: 4,
                ..
            }
        ),
        "{stale}"
    );
    let fresh = center
        .push(
            &app_yml,
            b"x: 1\n",
            &PushOptions {
                expect_version: Some(4),
                ..by("on-time")
            },
        )
        .await
        .unwrap();
    assert_eq!(fresh.version, 5);
    let create_only = center
        .push(
            &key("prod", "web", "new.yml"),
            b"a: 1\n",
            &PushOptions {
                expect_version: Some(0),
                ..by("x")
            },
        )
        .await
        .unwrap();
    assert_eq!(create_only.version, 1);

    // Retention: keep 3; older entries go in the same change.
    let motd = key("prod", "web", "motd.txt");
    let outcome = center
        .push(
            &motd,
            b"v2\n",
            &PushOptions {
                retention: Some(3),
                ..by("r")
            },
        )
        .await
        .unwrap();
    assert_eq!((outcome.version, outcome.pruned.clone()), (2, vec![]));
    for n in 3..=6u64 {
        let outcome = center
            .push(&motd, format!("v{n}\n").as_bytes(), &by("r"))
            .await
            .unwrap();
        assert_eq!(outcome.version, n);
        assert_eq!(outcome.pruned, if n > 3 { vec![n - 3] } else { vec![] });
    }
    let retained: Vec<u64> = center
        .history(&motd)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(retained, vec![6, 5, 4]);
    assert_eq!(
        coord
            .children(&history_dir(&motd))
            .await
            .unwrap()
            .unwrap()
            .len(),
        3
    );
    let pruned = center.get(&motd, Some(2)).await.unwrap_err();
    assert_eq!(
        pruned.to_string(),
        "prod/web/motd.txt: version 2 is not in the history (retained: 4..=6)"
    );
    assert!(center.rollback(&motd, 1, &by("r")).await.is_err());

    // Delete keeps the history (a new version); a rollback brings the document back.
    let deleted = center
        .delete(
            &motd,
            &DeleteOptions {
                author: "d".into(),
                ..DeleteOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(deleted.version, 7);
    assert_eq!(coord.get(&config_path(&motd)).await.unwrap(), None);
    let gone = center.get(&motd, None).await.unwrap_err();
    assert_eq!(
        gone.to_string(),
        "prod/web/motd.txt: no such config (deleted in version 7)"
    );
    assert!(matches!(
        center.rollback(&motd, 7, &by("r")).await,
        Err(ConfigError::NotRestorable { version: 7, .. })
    ));
    let restored = center.rollback(&motd, 5, &by("r")).await.unwrap();
    assert_eq!(restored.version, 8);
    assert_eq!(center.get(&motd, None).await.unwrap().content, b"v5\n");
    // Purge removes the history as well.
    center
        .delete(
            &motd,
            &DeleteOptions {
                purge: true,
                ..DeleteOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(coord.stat(&history_dir(&motd)).await.unwrap(), None);
    assert_eq!(center.current(&motd).await.unwrap().version, 0);

    // A plain ZooKeeper write shows as modified outside; the next push goes on top.
    let db = key("prod", "web", "db.yaml");
    coord
        .set_data(&config_path(&db), b"url: hand-edited\n", None)
        .await
        .unwrap();
    let document = center.get(&db, None).await.unwrap();
    assert!(document.modified_outside);
    assert_eq!(
        (document.version, document.content.as_slice()),
        (1, &b"url: hand-edited\n"[..])
    );
    assert_eq!(
        center
            .push(&db, b"url: managed\n", &by("a"))
            .await
            .unwrap()
            .version,
        2
    );
    assert!(!center.get(&db, None).await.unwrap().modified_outside);

    // The request size is measured exactly: with the document limit lifted, a push whose
    // request is exactly jute.maxbuffer is accepted by the server, one byte more is refused
    // before anything is sent.
    let roomy = ConfigCenter::new(coord.clone()).with_limits(Limits {
        max_document_bytes: 1 << 20,
        max_request_bytes: DEFAULT_JUTE_MAX_BUFFER,
    });
    let big = key("prod", "sizes", "big.txt");
    let quiet = PushOptions {
        author: "s".into(),
        ..PushOptions::default()
    };
    let probe = 600_000;
    let overhead = match roomy.push(&big, &vec![b'a'; probe], &quiet).await {
        Err(ConfigError::RequestTooLarge { size, limit, .. }) => {
            assert_eq!(limit, DEFAULT_JUTE_MAX_BUFFER);
            size - 2 * probe
        }
        other => panic!("expected a local size refusal, got {other:?}"),
    };
    // Each content byte appears twice (node data and the entry's JSON string); a one-byte
    // message makes the room even, so the request below is exactly the limit.
    let (overhead, options) = if (DEFAULT_JUTE_MAX_BUFFER - overhead).is_multiple_of(2) {
        (overhead, quiet)
    } else {
        (
            overhead + 1,
            PushOptions {
                message: "x".into(),
                ..quiet
            },
        )
    };
    let fits = (DEFAULT_JUTE_MAX_BUFFER - overhead) / 2;
    let too_big = roomy.push(&big, &vec![b'a'; fits + 1], &options).await;
    match too_big {
        Err(ConfigError::RequestTooLarge { size, .. }) => {
            assert_eq!(size, DEFAULT_JUTE_MAX_BUFFER + 2)
        }
        other => panic!("{other:?}"),
    }
    let outcome = roomy.push(&big, &vec![b'a'; fits], &options).await.unwrap();
    assert_eq!(outcome.version, 1);
    assert_eq!(roomy.get(&big, None).await.unwrap().content.len(), fits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_never_lose_an_acknowledged_push() {
    let server = ArborServer::start(ArborOptions::new());
    let center = Arc::new(ConfigCenter::new(connect(&server).await));

    // Two conditional writers from the same base, many rounds: exactly one wins each round.
    let contested = key("prod", "race", "contested.yml");
    center
        .push(&contested, b"round: 0\n", &by("init"))
        .await
        .unwrap();
    for round in 1..=10u64 {
        let base = center.get(&contested, None).await.unwrap().version;
        let writers = ["left", "right"].map(|writer| {
            let center = center.clone();
            let contested = contested.clone();
            tokio::spawn(async move {
                let content = format!("round: {round}\nwriter: {writer}\n");
                let options = PushOptions {
                    expect_version: Some(base),
                    ..by(writer)
                };
                center.push(&contested, content.as_bytes(), &options).await
            })
        });
        let mut results = Vec::new();
        for writer in writers {
            results.push(writer.await.unwrap());
        }
        let wins: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        assert_eq!(wins.len(), 1, "round {round}: {results:?}");
        let loser = results
            .iter()
            .find(|r| r.is_err())
            .unwrap()
            .as_ref()
            .unwrap_err();
        assert_eq!(loser.kind(), ErrorKind::Conflict, "{loser}");
        assert_eq!(
            center.get(&contested, None).await.unwrap().version,
            base + 1
        );
    }

    // Unconditional pushes from several sessions at once: every acknowledged push has its own
    // version and history entry with its content; versions are contiguous.
    let hot = key("prod", "race", "hot.properties");
    let writers = 4;
    let pushes_per_writer = 15;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        // A session per writer, so the pushes really race at the server.
        let center = Arc::new(ConfigCenter::new(connect(&server).await));
        let hot = hot.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0..pushes_per_writer {
                let content = format!("writer={writer}\nn={n}\n");
                let options = PushOptions {
                    retention: Some(1000),
                    ..by(&format!("w{writer}"))
                };
                let outcome = center
                    .push(&hot, content.as_bytes(), &options)
                    .await
                    .unwrap();
                assert!(outcome.changed);
                acknowledged.push((outcome.version, content));
            }
            acknowledged
        }));
    }
    let mut acknowledged = BTreeMap::new();
    for task in tasks {
        for (version, content) in task.await.unwrap() {
            assert!(
                acknowledged.insert(version, content).is_none(),
                "version {version} twice"
            );
        }
    }
    let total = (writers * pushes_per_writer) as u64;
    assert_eq!(
        acknowledged.keys().copied().collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    for (version, content) in &acknowledged {
        let document = center.get(&hot, Some(*version)).await.unwrap();
        assert_eq!(&document.content, content.as_bytes(), "version {version}");
    }
    assert_eq!(
        center.get(&hot, None).await.unwrap().content,
        acknowledged[&total].as_bytes()
    );
}

/// The Spring properties below a context, read the way Spring Cloud Zookeeper reads them.
async fn spring_view(coord: &ZkCoord, context: &str) -> BTreeMap<String, String> {
    let mut properties = BTreeMap::new();
    let mut stack = vec![context.to_string()];
    while let Some(path) = stack.pop() {
        for child in coord.children(&path).await.unwrap().unwrap_or_default() {
            let child_path = format!("{path}/{child}");
            let node = coord.get(&child_path).await.unwrap().unwrap();
            let grandchildren = coord
                .children(&child_path)
                .await
                .unwrap()
                .unwrap_or_default();
            let name = child_path[context.len() + 1..].replace('/', ".");
            if !node.data.is_empty() || grandchildren.is_empty() {
                properties.insert(name, String::from_utf8(node.data).unwrap());
            }
            stack.push(child_path);
        }
    }
    properties
}

fn expected(format: Format, documents: &[&str]) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for document in documents {
        all.extend(projection::flatten(format, document).unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spring_projection_follows_the_documents() {
    let server = ArborServer::start(ArborOptions::new());
    let coord = connect(&server).await;
    let center = ConfigCenter::new(coord.clone());
    let (prod, default) = (Env::new("prod").unwrap(), Env::new("default").unwrap());
    let shop = App::new("shop").unwrap();
    let yml = key("prod", "shop", "application.yml");
    let props = key("prod", "shop", "extra.properties");

    let v1 = "server:\n  port: 8080\n  host: a\nfeature:\n  beta: true\n";
    center.push(&yml, v1.as_bytes(), &by("a")).await.unwrap();
    assert_eq!(
        coord.stat("/config/shop,prod").await.unwrap(),
        None,
        "off by default"
    );

    let enabled = center
        .set_spring_projection(&prod, &shop, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(enabled.context, "/config/shop,prod");
    assert_eq!(enabled.created, 5);
    assert_eq!(
        spring_view(&coord, "/config/shop,prod").await,
        expected(Format::Yaml, &[v1])
    );

    // Keys added, changed and removed across pushes; a second document merges in.
    let v2 = "server:\n  port: 9090\nlist: [x, y]\nlogging:\n  level:\n    root: INFO\n";
    let outcome = center.push(&yml, v2.as_bytes(), &by("a")).await.unwrap();
    let projected = outcome.projection.unwrap();
    assert_eq!(projected.context, "/config/shop,prod");
    assert!(projected.deleted >= 3, "{projected:?}");
    assert_eq!(
        spring_view(&coord, "/config/shop,prod").await,
        expected(Format::Yaml, &[v2])
    );
    let extra = "db.url=jdbc:z\ndb.pool.size=5\n";
    center
        .push(&props, extra.as_bytes(), &by("a"))
        .await
        .unwrap();
    let mut both = expected(Format::Yaml, &[v2]);
    both.extend(expected(Format::Properties, &[extra]));
    assert_eq!(spring_view(&coord, "/config/shop,prod").await, both);

    // A key both documents define is refused, and nothing changes.
    let before = dump(&coord, "/").await;
    let err = center
        .push(&props, b"server.port=1\n", &by("a"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("defined by both"), "{err}");
    assert_eq!(dump(&coord, "/").await, before);

    // Rollback and delete move the projection too.
    center.rollback(&yml, 1, &by("a")).await.unwrap();
    let mut after_rollback = expected(Format::Yaml, &[v1]);
    after_rollback.extend(expected(Format::Properties, &[extra]));
    assert_eq!(
        spring_view(&coord, "/config/shop,prod").await,
        after_rollback
    );
    center
        .delete(&props, &DeleteOptions::default())
        .await
        .unwrap();
    assert_eq!(
        spring_view(&coord, "/config/shop,prod").await,
        expected(Format::Yaml, &[v1])
    );

    // Non-Spring formats are not projected; env "default" is Spring's profile-less context.
    center
        .push(&key("prod", "shop", "x.json"), b"{\"a\": 1}", &by("a"))
        .await
        .unwrap();
    assert_eq!(
        spring_view(&coord, "/config/shop,prod").await,
        expected(Format::Yaml, &[v1])
    );
    let base = key("default", "shop", "application.properties");
    center
        .push(&base, b"greeting=hi\n", &by("a"))
        .await
        .unwrap();
    center
        .set_spring_projection(&default, &shop, true)
        .await
        .unwrap();
    assert_eq!(
        spring_view(&coord, "/config/shop")
            .await
            .get("greeting")
            .map(String::as_str),
        Some("hi")
    );

    // Off: the context goes away; later pushes leave /config alone.
    center
        .set_spring_projection(&prod, &shop, false)
        .await
        .unwrap();
    assert_eq!(coord.stat("/config/shop,prod").await.unwrap(), None);
    center.push(&yml, v2.as_bytes(), &by("a")).await.unwrap();
    assert_eq!(coord.stat("/config/shop,prod").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_pushes_and_projection_across_an_ensemble() {
    let ensemble = ArborEnsemble::start(3, ArborOptions::new());
    let mut centers = Vec::new();
    for id in ensemble.ids() {
        let coord = ZkCoord::connect(
            &ensemble.member(id).connect_string(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        centers.push(Arc::new(ConfigCenter::new(coord)));
    }
    let doc = key("prod", "web", "application.yml");
    assert_eq!(
        centers[0]
            .push(&doc, b"round: 0\n", &by("a"))
            .await
            .unwrap()
            .version,
        1
    );
    // A writer on another member may expect the version it saw elsewhere at once.
    let options = PushOptions {
        expect_version: Some(1),
        ..by("b")
    };
    assert_eq!(
        centers[1]
            .push(&doc, b"round: 1\n", &options)
            .await
            .unwrap()
            .version,
        2
    );
    // Writers on different members racing from the same version: exactly one wins.
    for round in 2..=6u64 {
        let racers = [0, 1, 2].map(|member| {
            let center = centers[member].clone();
            let doc = doc.clone();
            tokio::spawn(async move {
                let options = PushOptions {
                    expect_version: Some(round),
                    ..by(&format!("m{member}"))
                };
                let content = format!("round: {round}\nmember: {member}\n");
                center.push(&doc, content.as_bytes(), &options).await
            })
        });
        let mut wins = 0;
        for racer in racers {
            match racer.await.unwrap() {
                Ok(outcome) => {
                    assert_eq!(outcome.version, round + 1);
                    wins += 1;
                }
                Err(err) => assert_eq!(err.kind(), ErrorKind::Conflict, "{err}"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
    let history = centers[2].history(&doc).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=7).rev().collect::<Vec<_>>()
    );

    // The projection switched on through one member follows pushes through another.
    let (prod, web) = (Env::new("prod").unwrap(), App::new("web").unwrap());
    centers[2]
        .set_spring_projection(&prod, &web, true)
        .await
        .unwrap();
    centers[0]
        .push(&doc, b"server:\n  port: 8080\n", &by("a"))
        .await
        .unwrap();
    let coord = centers[1].coord();
    coord.sync("/").await.unwrap();
    let port = coord.get("/config/web,prod/server/port").await.unwrap();
    assert_eq!(port.map(|node| node.data), Some(b"8080".to_vec()));
}

/// Every path under `root` (inclusive) whose ACL is not `acl`.
async fn paths_without_acl(coord: &ZkCoord, root: &str, acl: &Acl) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_string()];
    while let Some(path) = stack.pop() {
        let Some((found, _)) = coord.get_acl(&path).await.unwrap() else {
            continue;
        };
        if !found.same_entries(acl) {
            out.push(path.clone());
        }
        for child in coord.children(&path).await.unwrap().unwrap_or_default() {
            stack.push(format!("{path}/{child}"));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authenticated_center_protects_what_it_creates_and_what_was_there() {
    let server = ArborServer::start(ArborOptions::new());
    let credential = DigestCredential::parse("config-center:s3cret").unwrap();
    let protected = Acl::readable_by_anyone_owned_by(&credential);
    let stranger = connect(&server).await;
    let open_center = ConfigCenter::new(stranger.clone());
    let (prod, shop) = (Env::new("prod").unwrap(), App::new("shop").unwrap());
    let old = key("prod", "shop", "application.yml");
    open_center
        .push(&old, b"server:\n  port: 8080\n", &by("before"))
        .await
        .unwrap();
    open_center
        .set_spring_projection(&prod, &shop, true)
        .await
        .unwrap();
    assert_eq!(open_center.node_acl(), &Acl::open());

    let owner = connect(&server).await;
    let center = ConfigCenter::new(owner.clone())
        .authenticated_as(&credential)
        .await
        .unwrap();
    assert_eq!(center.node_acl(), &protected);

    // What it creates from now on is protected, the levels it creates on the way included.
    let new = key("staging", "api", "flags.json");
    center
        .push(&new, b"{\"beta\": true}\n", &by("owner"))
        .await
        .unwrap();
    assert_eq!(
        paths_without_acl(&owner, "/arbor/config/staging", &protected).await,
        Vec::<String>::new()
    );
    assert_eq!(
        paths_without_acl(&owner, "/arbor/history/staging", &protected).await,
        Vec::<String>::new()
    );
    // Others read it, and cannot change it, through the config center or directly.
    assert_eq!(
        open_center.get(&new, None).await.unwrap().content,
        b"{\"beta\": true}\n"
    );
    let err = open_center
        .push(&new, b"{\"beta\": false}\n", &by("stranger"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::Coord(CoordError::NoAuth)),
        "{err}"
    );
    assert_eq!(
        stranger.set_data(&config_path(&new), b"{}", None).await,
        Err(CoordError::NoAuth)
    );

    // The nodes written before are still open, until protect_existing.
    assert!(!paths_without_acl(&owner, "/arbor", &protected)
        .await
        .is_empty());
    let outcome = center.protect_existing().await.unwrap();
    assert!(outcome.changed >= 10, "{outcome:?}");
    assert_eq!(
        paths_without_acl(&owner, "/arbor", &protected).await,
        Vec::<String>::new()
    );
    assert_eq!(
        paths_without_acl(&owner, "/config/shop,prod", &protected).await,
        Vec::<String>::new()
    );
    // Spring's shared root stays open for other contexts.
    let (spring_root, _) = owner.get_acl("/config").await.unwrap().unwrap();
    assert!(spring_root.same_entries(&Acl::open()), "{spring_root}");
    stranger
        .create("/config/other-app", b"", CreateKind::Persistent)
        .await
        .unwrap();
    assert_eq!(
        stranger
            .set_data(&config_path(&old), b"port: 1\n", None)
            .await,
        Err(CoordError::NoAuth)
    );
    assert_eq!(
        stranger
            .create("/arbor/config/evil", b"", CreateKind::Persistent)
            .await,
        Err(CoordError::NoAuth)
    );
    // Nothing left to do the second time; the owner still changes what it now owns.
    let again = center.protect_existing().await.unwrap();
    assert_eq!(again.changed, 0, "{again:?}");
    assert_eq!(again.checked, outcome.checked);
    let outcome = center
        .push(&old, b"server:\n  port: 9090\n", &by("owner"))
        .await
        .unwrap();
    assert_eq!(outcome.version, 2);
    // Without a credential, protect_existing never opens anything up.
    assert_eq!(
        open_center.protect_existing().await.unwrap(),
        Default::default()
    );
}
