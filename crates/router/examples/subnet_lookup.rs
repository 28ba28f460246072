//! Benchmarks the subnet table: builds N random subnets (default 1,000,000;
//! 70% IPv4 /16–/32, 30% IPv6 /32–/64, fixed seed), then times 10M lookups
//! (half inside inserted subnets, half uniformly random) and prints one JSON
//! line.
//!
//! `cargo run --release -p efir-router --example subnet_lookup [N]`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use efir_router::subnets::{Subnet, SubnetTableBuilder};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| {
            s.replace(['_', ','], "")
                .parse()
                .expect("N must be a number")
        })
        .unwrap_or(1_000_000);
    let mut rng = StdRng::seed_from_u64(20261123);

    let mut subnets = Vec::with_capacity(n);
    for _ in 0..n {
        let s = if rng.random_bool(0.7) {
            let ip = IpAddr::V4(Ipv4Addr::from(rng.random::<u32>()));
            Subnet::new(ip, rng.random_range(16..=32)).unwrap()
        } else {
            // Global unicast 2000::/3.
            let addr = (rng.random::<u128>() >> 3) | (1u128 << 125);
            Subnet::new(IpAddr::V6(Ipv6Addr::from(addr)), rng.random_range(32..=64)).unwrap()
        };
        subnets.push(s);
    }

    let started = Instant::now();
    let mut b = SubnetTableBuilder::new();
    for (i, s) in subnets.iter().enumerate() {
        b.insert(*s, (i % 5000) as u32);
    }
    let distinct = b.len();
    let table = b.build();
    let build = started.elapsed();

    // Probe addresses: 1 Mi of them, cycled.
    const PROBES: usize = 1 << 20;
    let mut probes = Vec::with_capacity(PROBES);
    for i in 0..PROBES {
        let ip = if i % 2 == 0 {
            let s = subnets[rng.random_range(0..subnets.len())];
            match s.addr {
                IpAddr::V4(a) => {
                    let host =
                        rng.random::<u32>() & u32::MAX.checked_shr(s.prefix.into()).unwrap_or(0);
                    IpAddr::V4(Ipv4Addr::from(u32::from(a) | host))
                }
                IpAddr::V6(a) => {
                    let host = rng.random::<u128>() >> s.prefix;
                    IpAddr::V6(Ipv6Addr::from(u128::from(a) | host))
                }
            }
        } else if rng.random_bool(0.7) {
            IpAddr::V4(Ipv4Addr::from(rng.random::<u32>()))
        } else {
            IpAddr::V6(Ipv6Addr::from((rng.random::<u128>() >> 3) | (1u128 << 125)))
        };
        probes.push(ip);
    }

    const LOOKUPS: usize = 10_000_000;
    let mut hits = 0usize;
    let started = Instant::now();
    for i in 0..LOOKUPS {
        if black_box(table.lookup(black_box(probes[i & (PROBES - 1)]))).is_some() {
            hits += 1;
        }
    }
    let took = started.elapsed();
    let (ranges_v4, ranges_v6) = table.range_counts();

    println!(
        "{{\"subnets\":{n},\"distinct\":{distinct},\"ranges_v4\":{ranges_v4},\"ranges_v6\":{ranges_v6},\"build_ms\":{:.1},\"heap_bytes\":{},\"heap_mb\":{:.1},\"lookups\":{LOOKUPS},\"hits\":{hits},\"ns_per_lookup\":{:.1}}}",
        build.as_secs_f64() * 1e3,
        table.heap_bytes(),
        table.heap_bytes() as f64 / 1e6,
        took.as_nanos() as f64 / LOOKUPS as f64,
    );
}
