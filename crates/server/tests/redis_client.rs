//! Integration tests through the `redis` crate (async, tokio) against the in-process server:
//! what a real client library sees, including its connection handshake (CLIENT SETINFO,
//! HELLO 3, AUTH, SELECT), pipelines and concurrent connections.

use std::net::SocketAddr;
use std::sync::Arc;

use commands::{Config, Server};
use keyspace::{Keyspace, KeyspaceConfig, ManualClock};
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, ErrorKind, Value};

/// A server running on the test's own tokio runtime; asks it to stop when dropped.
struct Srv {
    server: Arc<Server>,
    addr: SocketAddr,
}

impl Srv {
    /// Starts a server on 127.0.0.1:0, no persistence, with `settings` on top.
    async fn start(settings: &[(&str, &str)]) -> Srv {
        let config = Config::new(None);
        for (k, v) in [("port", "0"), ("bind", "127.0.0.1"), ("save", "")]
            .iter()
            .chain(settings)
        {
            config.set_initial(k, v).expect("setting");
        }
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let databases = config.get_i64("databases") as usize;
        let keyspace = Keyspace::new(
            KeyspaceConfig {
                databases,
                shards: 4,
            },
            clock,
        );
        let server = Server::with_keyspace(config, keyspace);
        let running = server::start(server.clone()).await.expect("start");
        let addr = running.addr();
        tokio::spawn(running.wait());
        Srv { server, addr }
    }

    fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    async fn connect_url(&self, url: &str) -> redis::RedisResult<MultiplexedConnection> {
        redis::Client::open(url)?
            .get_multiplexed_async_connection()
            .await
    }

    async fn connect(&self) -> MultiplexedConnection {
        self.connect_url(&self.url()).await.expect("connect")
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        self.server.request_shutdown();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_string_commands() {
    let srv = Srv::start(&[]).await;
    let mut con = srv.connect().await;

    let pong: String = redis::cmd("PING")
        .query_async(&mut con)
        .await
        .expect("PING");
    assert_eq!(pong, "PONG");
    let echo: String = redis::cmd("ECHO")
        .arg("hello")
        .query_async(&mut con)
        .await
        .expect("ECHO");
    assert_eq!(echo, "hello");

    let () = con.set("k", "v").await.expect("SET");
    let v: Option<String> = con.get("k").await.expect("GET");
    assert_eq!(v.as_deref(), Some("v"));
    let missing: Option<String> = con.get("missing").await.expect("GET");
    assert_eq!(missing, None);

    let () = con
        .mset(&[("a", "1"), ("b", "2"), ("c", "3")])
        .await
        .expect("MSET");
    let vals: Vec<Option<String>> = con.mget(&["a", "nope", "c"]).await.expect("MGET");
    assert_eq!(
        vals,
        vec![Some("1".to_string()), None, Some("3".to_string())]
    );

    let n: i64 = con.incr("a", 1).await.expect("INCR");
    assert_eq!(n, 2);
    let n: i64 = con.incr("a", 40).await.expect("INCRBY");
    assert_eq!(n, 42);
    let n: i64 = con.decr("a", 50).await.expect("DECRBY");
    assert_eq!(n, -8);
    let n: i64 = redis::cmd("DECR")
        .arg("fresh")
        .query_async(&mut con)
        .await
        .expect("DECR");
    assert_eq!(n, -1);

    let n: i64 = con.exists(&["a", "b", "nope", "a"]).await.expect("EXISTS");
    assert_eq!(n, 3);
    let t: String = redis::cmd("TYPE")
        .arg("k")
        .query_async(&mut con)
        .await
        .expect("TYPE");
    assert_eq!(t, "string");
    let t: String = redis::cmd("TYPE")
        .arg("nope")
        .query_async(&mut con)
        .await
        .expect("TYPE");
    assert_eq!(t, "none");

    let size: i64 = redis::cmd("DBSIZE")
        .query_async(&mut con)
        .await
        .expect("DBSIZE");
    assert_eq!(size, 5);
    let n: i64 = con.del(&["a", "b", "nope"]).await.expect("DEL");
    assert_eq!(n, 2);
    let () = redis::cmd("FLUSHDB")
        .query_async(&mut con)
        .await
        .expect("FLUSHDB");
    let size: i64 = redis::cmd("DBSIZE")
        .query_async(&mut con)
        .await
        .expect("DBSIZE");
    assert_eq!(size, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_reach_the_client_and_the_connection_stays_usable() {
    let srv = Srv::start(&[]).await;
    let mut con = srv.connect().await;
    let () = con.set("s", "not a number").await.expect("SET");
    let err = con.incr::<_, _, i64>("s", 1).await.expect_err("INCR");
    assert_eq!(err.kind(), ErrorKind::ResponseError);
    assert_eq!(
        err.detail(),
        Some("value is not an integer or out of range")
    );

    let err = redis::cmd("NOSUCHCMD")
        .arg("x")
        .query_async::<Value>(&mut con)
        .await
        .expect_err("unknown command");
    assert_eq!(err.kind(), ErrorKind::ResponseError);
    assert_eq!(
        err.detail(),
        Some("unknown command 'NOSUCHCMD', with args beginning with: 'x' ")
    );

    let err = redis::cmd("GET")
        .query_async::<Value>(&mut con)
        .await
        .expect_err("wrong arity");
    assert_eq!(
        err.detail(),
        Some("wrong number of arguments for 'get' command")
    );

    let v: String = con.get("s").await.expect("GET");
    assert_eq!(v, "not a number");
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelines() {
    let srv = Srv::start(&[]).await;
    let mut con = srv.connect().await;

    let (set, incr, get, missing): (String, i64, String, Option<String>) = redis::pipe()
        .set("p", 10)
        .incr("p", 5)
        .get("p")
        .get("nope")
        .query_async(&mut con)
        .await
        .expect("pipeline");
    assert_eq!(
        (set.as_str(), incr, get.as_str(), missing),
        ("OK", 15, "15", None)
    );

    // Ignored commands drop out of the result.
    let (n,): (i64,) = redis::pipe()
        .set("q", 1)
        .ignore()
        .incr("q", 1)
        .ignore()
        .incr("q", 1)
        .query_async(&mut con)
        .await
        .expect("pipeline");
    assert_eq!(n, 3);

    // A long pipeline: replies come back complete and in order.
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.set(format!("key:{i}"), i).ignore();
    }
    for i in 0..5000 {
        pipe.get(format!("key:{i}"));
    }
    let values: Vec<i64> = pipe.query_async(&mut con).await.expect("pipeline");
    assert_eq!(values, (0..5000).collect::<Vec<i64>>());

    // An error inside a pipeline is reported, and the connection still works.
    let () = con.set("str", "x").await.expect("SET");
    let err = redis::pipe()
        .set("before", 1)
        .incr("str", 1)
        .set("after", 2)
        .query_async::<Value>(&mut con)
        .await
        .expect_err("pipeline with an error");
    assert_eq!(
        err.detail(),
        Some("value is not an integer or out of range")
    );
    // The commands around the failed one still ran, as in Redis (no MULTI here).
    let vals: Vec<Option<i64>> = con.mget(&["before", "after"]).await.expect("MGET");
    assert_eq!(vals, vec![Some(1), Some(2)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_safe_keys_and_values() {
    let srv = Srv::start(&[]).await;
    let mut con = srv.connect().await;
    let value: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let key: &[u8] = b"bin\0key\r\n\xff";
    let () = con.set(key, &value).await.expect("SET");
    let got: Vec<u8> = con.get(key).await.expect("GET");
    assert_eq!(got, value);
    let got: Vec<Option<Vec<u8>>> = con.mget(&[key, b"bin"]).await.expect("MGET");
    assert_eq!(got, vec![Some(value.clone()), None]);
    let empty: Vec<u8> = Vec::new();
    let () = con.set("empty", &empty).await.expect("SET");
    let got: Value = con.get("empty").await.expect("GET");
    assert_eq!(got, Value::BulkString(Vec::new()));
}

#[tokio::test(flavor = "multi_thread")]
async fn large_value_round_trip() {
    let srv = Srv::start(&[]).await;
    let mut con = srv.connect().await;
    let mut x: u32 = 12345;
    let value: Vec<u8> = (0..16 * 1024 * 1024)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 24) as u8
        })
        .collect();
    let () = con.set("big", &value).await.expect("SET");
    let got: Vec<u8> = con.get("big").await.expect("GET");
    assert!(got == value, "16 MB value came back different");
    let echoed: Vec<u8> = redis::cmd("ECHO")
        .arg(&value[..1024 * 1024])
        .query_async(&mut con)
        .await
        .expect("ECHO");
    assert!(echoed == value[..1024 * 1024]);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_clients_increment_one_counter() {
    let srv = Srv::start(&[]).await;
    const CLIENTS: i64 = 16;
    const PER_CLIENT: i64 = 500;
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut con = srv.connect().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_CLIENT {
                // Alternate INCR and INCRBY 2 / DECR so the total is still exact.
                if i % 2 == 0 {
                    let _: i64 = con.incr("counter", 2).await.expect("INCRBY");
                } else {
                    let _: i64 = redis::cmd("DECR")
                        .arg("counter")
                        .query_async(&mut con)
                        .await
                        .expect("DECR");
                }
                let _: i64 = con.incr(format!("own:{c}"), 1).await.expect("INCR");
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let mut con = srv.connect().await;
    let total: i64 = con.get("counter").await.expect("GET");
    // 16 clients, each 250 × (+2) and 250 × (−1).
    assert_eq!(total, 4000);
    let keys: Vec<String> = (0..CLIENTS).map(|c| format!("own:{c}")).collect();
    let own: Vec<i64> = con.mget(&keys).await.expect("MGET");
    assert_eq!(own, vec![PER_CLIENT; CLIENTS as usize]);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_over_one_multiplexed_connection() {
    let srv = Srv::start(&[]).await;
    let con = srv.connect().await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let mut con = con.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..300 {
                let n: i64 = con.incr("shared", 1).await.expect("INCR");
                assert!(n >= 1);
                let key = format!("t{t}:{i}");
                let () = con.set(&key, i).await.expect("SET");
                let v: i64 = con.get(&key).await.expect("GET");
                assert_eq!(v, i);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let mut con = con.clone();
    let total: i64 = con.get("shared").await.expect("GET");
    assert_eq!(total, 8 * 300);
    let size: i64 = redis::cmd("DBSIZE")
        .query_async(&mut con)
        .await
        .expect("DBSIZE");
    assert_eq!(size, 8 * 300 + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn resp3_connection() {
    let srv = Srv::start(&[]).await;
    let mut con = srv
        .connect_url(&format!("redis://{}/?protocol=resp3", srv.addr))
        .await
        .expect("connect with HELLO 3");
    // HELLO without arguments describes the connection: a map under RESP3.
    let hello: Value = redis::cmd("HELLO")
        .query_async(&mut con)
        .await
        .expect("HELLO");
    let Value::Map(fields) = hello else {
        panic!("HELLO under RESP3 must be a map, got {hello:?}");
    };
    assert!(fields.contains(&(Value::BulkString(b"proto".to_vec()), Value::Int(3))));

    let () = con.set("k", "v").await.expect("SET");
    let got: Value = con.get("missing").await.expect("GET");
    assert_eq!(got, Value::Nil);
    let got: Value = con.mget(&["k", "missing"]).await.expect("MGET");
    assert_eq!(
        got,
        Value::Array(vec![Value::BulkString(b"v".to_vec()), Value::Nil])
    );
    let n: i64 = con.incr("n", 7).await.expect("INCRBY");
    assert_eq!(n, 7);
    let (a, b): (i64, Option<String>) = redis::pipe()
        .incr("n", 1)
        .get("missing")
        .query_async(&mut con)
        .await
        .expect("pipeline");
    assert_eq!((a, b), (8, None));
}

#[tokio::test(flavor = "multi_thread")]
async fn resp2_hello_is_an_array() {
    let srv = Srv::start(&[]).await;
    let mut con = srv.connect().await;
    let hello: Value = redis::cmd("HELLO")
        .query_async(&mut con)
        .await
        .expect("HELLO");
    let Value::Array(items) = hello else {
        panic!("HELLO under RESP2 must be an array, got {hello:?}");
    };
    let proto = items
        .chunks(2)
        .find(|kv| kv[0] == Value::BulkString(b"proto".to_vec()))
        .map(|kv| kv[1].clone());
    assert_eq!(proto, Some(Value::Int(2)));
}

#[tokio::test(flavor = "multi_thread")]
async fn password_and_database_from_the_url() {
    let srv = Srv::start(&[("requirepass", "secret")]).await;

    // Without a password every command is refused.
    let mut anon = srv.connect().await;
    let err = con_get(&mut anon, "k").await.expect_err("NOAUTH");
    assert_eq!(err.code(), Some("NOAUTH"));
    assert_eq!(err.detail(), Some("Authentication required."));

    // A wrong password fails the connection.
    let err = srv
        .connect_url(&format!("redis://:wrong@{}/", srv.addr))
        .await
        .expect_err("wrong password");
    assert_eq!(err.kind(), ErrorKind::AuthenticationFailed);

    // The right password, under RESP2 (AUTH) and RESP3 (HELLO 3 AUTH), with SELECT.
    let mut db2 = srv
        .connect_url(&format!("redis://:secret@{}/2", srv.addr))
        .await
        .expect("connect with AUTH and SELECT");
    let () = db2.set("k", "in db 2").await.expect("SET");
    let mut db0 = srv
        .connect_url(&format!("redis://:secret@{}/?protocol=resp3", srv.addr))
        .await
        .expect("connect with HELLO 3 AUTH");
    let v: Option<String> = db0.get("k").await.expect("GET");
    assert_eq!(v, None);
    let () = redis::cmd("SELECT")
        .arg(2)
        .query_async(&mut db0)
        .await
        .expect("SELECT");
    let v: Option<String> = db0.get("k").await.expect("GET");
    assert_eq!(v.as_deref(), Some("in db 2"));

    // AUTH on the anonymous connection unlocks it.
    let () = redis::cmd("AUTH")
        .arg("secret")
        .query_async(&mut anon)
        .await
        .expect("AUTH");
    let v: Option<String> = anon.get("k").await.expect("GET");
    assert_eq!(v, None);
}

async fn con_get(con: &mut MultiplexedConnection, key: &str) -> redis::RedisResult<Value> {
    con.get(key).await
}

#[tokio::test(flavor = "multi_thread")]
async fn flushall_clears_every_database() {
    let srv = Srv::start(&[]).await;
    let mut db0 = srv.connect().await;
    let mut db3 = srv
        .connect_url(&format!("redis://{}/3", srv.addr))
        .await
        .expect("connect to db 3");
    let () = db0.set("a", 1).await.expect("SET");
    let () = db3.set("b", 2).await.expect("SET");
    let () = redis::cmd("FLUSHALL")
        .query_async(&mut db0)
        .await
        .expect("FLUSHALL");
    let n: i64 = db3.exists("b").await.expect("EXISTS");
    assert_eq!(n, 0);
    let n: i64 = db0.exists("a").await.expect("EXISTS");
    assert_eq!(n, 0);
}
