//! Bad input gets a typed error, never a panic: URLs, credentials, subjects, sizes.

mod common;

use common::{LIMIT, connect, eventually, server, within};
use taskweave_bus::{Bus, SubjectError};
use taskweave_nats::testing::NatsServer;
use taskweave_nats::{Bridge, ConfigError, Connection, Error, Json, MAX_BUFFER, WorkQueue};

#[tokio::test]
async fn a_malformed_url_is_refused() {
    let err = Connection::connect("nats://[::1").await.unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("nats://host:port"));
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Connection::connect(format!("nats://127.0.0.1:{port}"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect(_)), "{err:?}");
}

#[tokio::test]
async fn wrong_credentials_are_an_auth_error() {
    let server = NatsServer::builder()
        .user_and_password("app", "secret")
        .start()
        .expect("nats-server");
    let err = Connection::builder(server.url())
        .user_and_password("app", "wrong")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    Connection::builder(server.url())
        .user_and_password("app", "secret")
        .connect()
        .await
        .expect("right credentials connect");
}

#[tokio::test]
async fn invalid_settings_and_subjects_are_config_errors() {
    let server = server(false);
    let conn = connect(&server).await;
    let bus: Bus<u64> = Bus::new(8);
    let config = |e: Error| match e {
        Error::Config(c) => c,
        other => panic!("expected a config error, got {other:?}"),
    };
    let e = config(
        Bridge::builder(&conn, &bus, Json)
            .build()
            .await
            .unwrap_err(),
    );
    assert!(matches!(e, ConfigError::Empty));
    let e = config(
        Bridge::builder(&conn, &bus, Json)
            .export("a..b")
            .build()
            .await
            .unwrap_err(),
    );
    assert!(matches!(
        e,
        ConfigError::InvalidSubject {
            source: SubjectError::EmptyToken { .. },
            ..
        }
    ));
    let e = config(
        Bridge::builder(&conn, &bus, Json)
            .import("a.>.b")
            .build()
            .await
            .unwrap_err(),
    );
    assert!(matches!(e, ConfigError::InvalidSubject { .. }));
    let long = "a".repeat(taskweave_nats::MAX_NATS_SUBJECT_LEN + 1);
    let e = config(
        Bridge::builder(&conn, &bus, Json)
            .export(long)
            .build()
            .await
            .unwrap_err(),
    );
    assert!(matches!(
        e,
        ConfigError::InvalidSubject {
            source: SubjectError::TooLong { .. },
            ..
        }
    ));
    let e = config(
        Bridge::builder(&conn, &bus, Json)
            .export("a")
            .buffer(0)
            .build()
            .await
            .unwrap_err(),
    );
    assert!(matches!(e, ConfigError::Zero { setting: "buffer" }));
    let e = config(
        Bridge::builder(&conn, &bus, Json)
            .export("a")
            .buffer(MAX_BUFFER + 1)
            .build()
            .await
            .unwrap_err(),
    );
    assert!(matches!(e, ConfigError::TooLarge { .. }));
    let e = config(
        Bridge::builder(&conn, &bus, Json)
            .export_durable("a")
            .build()
            .await
            .unwrap_err(),
    );
    assert!(matches!(e, ConfigError::MissingStream));
    let e = config(
        Bridge::builder(&conn, &bus, Json)
            .export("a")
            .name("my.bridge")
            .build()
            .await
            .unwrap_err(),
    );
    assert!(matches!(e, ConfigError::InvalidName { .. }));
    let e = config(
        WorkQueue::<u64, _>::builder(&conn, Json, "S", "jobs.*")
            .build()
            .await
            .unwrap_err(),
    );
    assert!(matches!(
        e,
        ConfigError::InvalidSubject {
            source: SubjectError::WildcardInSubject { .. },
            ..
        }
    ));
    let e = config(
        WorkQueue::<u64, _>::builder(&conn, Json, "S", "jobs")
            .max_in_flight(0)
            .build()
            .await
            .unwrap_err(),
    );
    assert!(matches!(
        e,
        ConfigError::Zero {
            setting: "max_in_flight"
        }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_payloads_are_refused_and_counted() {
    let server = NatsServer::builder()
        .jetstream()
        .max_payload(1024)
        .start()
        .expect("nats-server");
    let conn = connect(&server).await;
    assert_eq!(conn.max_payload(), 1024);
    let bus: Bus<String> = Bus::new(8);
    let bridge = Bridge::builder(&conn, &bus, Json)
        .export("big")
        .build()
        .await
        .unwrap();
    bus.publish("big", "x".repeat(4096)).await.unwrap();
    bus.publish("big", "small".to_owned()).await.unwrap();
    eventually(LIMIT, "one rejected, one published", || {
        let m = bridge.metrics();
        m.rejected == 1 && m.published == 1
    })
    .await;
    let queue = WorkQueue::<String, _>::builder(&conn, Json, "BIG", "big.jobs")
        .build()
        .await
        .unwrap();
    let err = queue.submit(&"x".repeat(4096)).await.unwrap_err();
    assert!(
        matches!(err, Error::PayloadTooLarge { max: 1024, .. }),
        "{err:?}"
    );
    within(bridge.drain()).await;
}

#[tokio::test]
async fn a_subscription_capacity_of_zero_or_absurd_size_is_refused_before_connecting() {
    // No server: the settings are checked first.
    for (capacity, zero) in [
        (0, true),
        (taskweave_nats::MAX_SUBSCRIPTION_CAPACITY + 1, false),
    ] {
        let err = Connection::builder("nats://127.0.0.1:1")
            .subscription_capacity(capacity)
            .connect()
            .await
            .unwrap_err();
        match err {
            Error::Config(ConfigError::Zero { setting }) if zero => {
                assert_eq!(setting, "subscription_capacity");
            }
            Error::Config(ConfigError::TooLarge { setting, .. }) if !zero => {
                assert_eq!(setting, "subscription_capacity");
            }
            other => panic!("capacity {capacity}: {other:?}"),
        }
    }
}
