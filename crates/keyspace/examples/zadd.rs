//! Sorted-set insertion timing, outside the server: what `redis-benchmark -t zadd` does to
//! one big set (`ZADD myzset <rand> element:<rand>`), run on the `ZSet` directly.
//!
//! `cargo run --release -p keyspace --example zadd [N]` prints ns per operation for
//! N (default 1,000,000) inserts of distinct members with random scores, then N ZADDs over
//! 100,000 members (mostly score updates, as the benchmark's steady state), then N ZRANKs.
//! Compare two builds' numbers on the same machine; absolute figures mean little.

use std::hint::black_box;
use std::time::Instant;

use keyspace::types::{Limits, ZSet};
use rand::{Rng, SeedableRng};

fn member(buf: &mut Vec<u8>, n: u64) -> &[u8] {
    buf.clear();
    buf.extend_from_slice(b"element:");
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    buf
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let limits = Limits::default();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut buf = Vec::new();

    let mut z = ZSet::new();
    let t = Instant::now();
    for i in 0..n {
        let score = rng.gen_range(0..1_000_000u32) as f64;
        z.insert(member(&mut buf, i), score, &limits);
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!(
        "insert {n} distinct members: {ns:.0} ns/op (len {})",
        z.len()
    );

    let mut z = ZSet::new();
    let t = Instant::now();
    for _ in 0..n {
        let score = rng.gen_range(0..100_000u32) as f64;
        let m = rng.gen_range(0..100_000u64);
        z.insert(member(&mut buf, m), score, &limits);
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!("zadd over 100000 members: {ns:.0} ns/op (len {})", z.len());

    let t = Instant::now();
    let mut sum = 0usize;
    for _ in 0..n {
        let m = rng.gen_range(0..100_000u64);
        sum += z.rank(member(&mut buf, m)).map_or(0, |(r, _)| r);
    }
    black_box(sum);
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    println!("zrank: {ns:.0} ns/op");
}
