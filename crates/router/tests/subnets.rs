//! Subnet table and import tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use efir_router::subnets::{
    parse_subnets, ImportError, RegionId, Subnet, SubnetTable, SubnetTableBuilder,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn sn(s: &str) -> Subnet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn table(entries: &[(&str, RegionId)]) -> SubnetTable {
    let mut b = SubnetTableBuilder::new();
    for (s, r) in entries {
        b.insert(sn(s), *r);
    }
    b.build()
}

fn v4(x: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(x))
}

fn v6(x: u128) -> IpAddr {
    IpAddr::V6(Ipv6Addr::from(x))
}

#[test]
fn empty_table() {
    let t = SubnetTableBuilder::new().build();
    assert!(t.is_empty());
    assert_eq!(t.len(), 0);
    assert_eq!(t.lookup(ip("1.2.3.4")), None);
    assert_eq!(t.lookup(ip("::1")), None);
}

#[test]
fn ipv4_nested_and_edges() {
    let t = table(&[
        ("10.0.0.0/8", 8),
        ("10.20.0.0/16", 16),
        ("10.20.30.0/24", 24),
        ("10.20.30.40/32", 32),
        ("192.168.0.0/24", 100),
        ("192.168.1.0/24", 101), // adjacent
    ]);
    assert_eq!(t.len(), 6);
    // /8 edges
    assert_eq!(t.lookup(ip("9.255.255.255")), None);
    assert_eq!(t.lookup(ip("10.0.0.0")), Some(8));
    assert_eq!(t.lookup(ip("10.255.255.255")), Some(8));
    assert_eq!(t.lookup(ip("11.0.0.0")), None);
    // /16 edges inside the /8
    assert_eq!(t.lookup(ip("10.19.255.255")), Some(8));
    assert_eq!(t.lookup(ip("10.20.0.0")), Some(16));
    assert_eq!(t.lookup(ip("10.20.255.255")), Some(16));
    assert_eq!(t.lookup(ip("10.21.0.0")), Some(8));
    // /24 edges inside the /16
    assert_eq!(t.lookup(ip("10.20.29.255")), Some(16));
    assert_eq!(t.lookup(ip("10.20.30.0")), Some(24));
    assert_eq!(t.lookup(ip("10.20.30.255")), Some(24));
    assert_eq!(t.lookup(ip("10.20.31.0")), Some(16));
    // /32 inside the /24
    assert_eq!(t.lookup(ip("10.20.30.39")), Some(24));
    assert_eq!(t.lookup(ip("10.20.30.40")), Some(32));
    assert_eq!(t.lookup(ip("10.20.30.41")), Some(24));
    // adjacent ranges
    assert_eq!(t.lookup(ip("192.167.255.255")), None);
    assert_eq!(t.lookup(ip("192.168.0.0")), Some(100));
    assert_eq!(t.lookup(ip("192.168.0.255")), Some(100));
    assert_eq!(t.lookup(ip("192.168.1.0")), Some(101));
    assert_eq!(t.lookup(ip("192.168.1.255")), Some(101));
    assert_eq!(t.lookup(ip("192.168.2.0")), None);
    // Extremes
    assert_eq!(t.lookup(ip("0.0.0.0")), None);
    assert_eq!(t.lookup(ip("255.255.255.255")), None);
    // IPv6 is a separate family
    assert_eq!(t.lookup(ip("::a14:1e28")), None);
}

#[test]
fn ipv4_default_route() {
    let t = table(&[
        ("0.0.0.0/0", 1),
        ("10.0.0.0/8", 2),
        ("255.255.255.255/32", 3),
    ]);
    assert_eq!(t.lookup(ip("0.0.0.0")), Some(1));
    assert_eq!(t.lookup(ip("9.255.255.255")), Some(1));
    assert_eq!(t.lookup(ip("10.0.0.0")), Some(2));
    assert_eq!(t.lookup(ip("11.0.0.0")), Some(1));
    assert_eq!(t.lookup(ip("255.255.255.254")), Some(1));
    assert_eq!(t.lookup(ip("255.255.255.255")), Some(3));
    assert_eq!(t.lookup(ip("::1")), None, "0.0.0.0/0 does not cover IPv6");
    assert_eq!(t.lookup(ip("::ffff:8.8.8.8")), Some(1));
}

#[test]
fn ipv6_nested_and_edges() {
    let t = table(&[
        ("::/0", 1),
        ("2001:db8::/32", 32),
        ("2001:db8:1::/48", 48),
        ("2001:db8:1:2::/64", 64),
        ("2001:db8:1:2::7/128", 128),
        ("2001:db9::/32", 33), // adjacent to 2001:db8::/32
        ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 999),
    ]);
    assert_eq!(t.lookup(ip("::")), Some(1));
    assert_eq!(
        t.lookup(ip("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")),
        Some(1)
    );
    assert_eq!(t.lookup(ip("2001:db8::")), Some(32));
    assert_eq!(
        t.lookup(ip("2001:db8:0:ffff:ffff:ffff:ffff:ffff")),
        Some(32)
    );
    assert_eq!(t.lookup(ip("2001:db8:1::")), Some(48));
    assert_eq!(t.lookup(ip("2001:db8:1:1:ffff:ffff:ffff:ffff")), Some(48));
    assert_eq!(t.lookup(ip("2001:db8:1:2::")), Some(64));
    assert_eq!(t.lookup(ip("2001:db8:1:2::6")), Some(64));
    assert_eq!(t.lookup(ip("2001:db8:1:2::7")), Some(128));
    assert_eq!(t.lookup(ip("2001:db8:1:2::8")), Some(64));
    assert_eq!(t.lookup(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), Some(64));
    assert_eq!(t.lookup(ip("2001:db8:1:3::")), Some(48));
    assert_eq!(
        t.lookup(ip("2001:db8:1:ffff:ffff:ffff:ffff:ffff")),
        Some(48)
    );
    assert_eq!(t.lookup(ip("2001:db8:2::")), Some(32));
    assert_eq!(
        t.lookup(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")),
        Some(32)
    );
    assert_eq!(t.lookup(ip("2001:db9::")), Some(33));
    assert_eq!(
        t.lookup(ip("2001:db9:ffff:ffff:ffff:ffff:ffff:ffff")),
        Some(33)
    );
    assert_eq!(t.lookup(ip("2001:dba::")), Some(1));
    assert_eq!(
        t.lookup(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")),
        Some(1)
    );
    assert_eq!(
        t.lookup(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")),
        Some(999)
    );
    assert_eq!(t.lookup(ip("1.2.3.4")), None, "::/0 does not cover IPv4");

    let t = table(&[("2001:db8::/32", 5)]);
    assert_eq!(t.lookup(ip("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")), None);
    assert_eq!(t.lookup(ip("2001:db9::")), None);
    assert_eq!(t.lookup(ip("::")), None);
}

#[test]
fn ipv4_mapped() {
    let t = table(&[("10.0.0.0/8", 1), ("::ffff:192.168.0.0/112", 2)]);
    assert_eq!(sn("::ffff:192.168.0.0/112"), sn("192.168.0.0/16"));
    assert_eq!(t.lookup(ip("::ffff:10.1.2.3")), Some(1));
    assert_eq!(t.lookup(ip("192.168.4.4")), Some(2));
    assert_eq!(t.lookup(ip("::ffff:192.168.4.4")), Some(2));
    assert_eq!(t.lookup(ip("::ffff:11.1.2.3")), None);
    // A short mapped prefix stays IPv6.
    assert!(sn("::ffff:0:0/95").addr.is_ipv6());
}

#[test]
fn later_duplicate_wins_and_host_bits_normalised() {
    let mut b = SubnetTableBuilder::new();
    b.insert(sn("10.0.0.0/8"), 1);
    b.insert(sn("10.9.9.9/8"), 2); // same subnet after normalisation
    b.insert(
        Subnet {
            addr: ip("10.1.1.1"),
            prefix: 8,
        },
        3,
    ); // hand-built, not normalised
    b.insert(sn("2001:db8::1/32"), 4);
    b.insert(sn("2001:db8::/32"), 5);
    assert_eq!(b.len(), 2);
    let t = b.build();
    assert_eq!(t.len(), 2);
    assert_eq!(t.lookup(ip("10.200.0.1")), Some(3));
    assert_eq!(t.lookup(ip("2001:db8:5::")), Some(5));
    assert_eq!(sn("10.1.2.3/8").to_string(), "10.0.0.0/8");
    assert_eq!(sn("192.168.1.77/26").to_string(), "192.168.1.64/26");
    assert_eq!(sn("2001:db8:abcd::1/36").to_string(), "2001:db8:a000::/36");
    assert_eq!(sn("1.2.3.4").prefix, 32);
    assert_eq!(sn("::1").prefix, 128);
}

#[test]
fn subnet_parse_errors_name_input() {
    for bad in [
        "10.0.0.0/33",
        "300.1.1.1/8",
        "abc",
        "2001:db8::/129",
        "1.2.3.4/x",
    ] {
        let e = bad.parse::<Subnet>().unwrap_err().to_string();
        assert!(e.contains(bad), "{e}");
    }
}

fn random_subnet(rng: &mut StdRng) -> Subnet {
    if rng.random_bool(0.5) {
        let prefix = rng.random_range(8..=32u8);
        Subnet::new(v4(rng.random()), prefix).unwrap()
    } else {
        // Keep IPv6 in a few /8s so nesting actually happens.
        let top: u128 = u128::from(rng.random_range(0x20..0x24u8)) << 120;
        let addr = top | (rng.random::<u128>() >> 8);
        let prefix = rng.random_range(16..=128u8);
        Subnet::new(v6(addr), prefix).unwrap()
    }
}

fn naive(entries: &[(Subnet, RegionId)], ip: IpAddr) -> Option<RegionId> {
    let mut best: Option<(u8, RegionId)> = None;
    for (s, r) in entries {
        if s.contains(ip) && best.is_none_or(|(p, _)| s.prefix >= p) {
            best = Some((s.prefix, *r));
        }
    }
    best.map(|(_, r)| r)
}

/// A subnet as an inclusive u128 range (IPv4 in the low 32 bits), for a
/// fast naive scan.
struct Flat {
    start: u128,
    end: u128,
    prefix: u8,
    region: RegionId,
}

fn flat(list: &[(Subnet, RegionId)]) -> Vec<Flat> {
    list.iter()
        .map(|(s, r)| {
            let (start, bits) = match s.addr {
                IpAddr::V4(a) => (u128::from(u32::from(a)), 32 - u32::from(s.prefix)),
                IpAddr::V6(a) => (u128::from(a), 128 - u32::from(s.prefix)),
            };
            let span = if bits == 128 {
                u128::MAX
            } else {
                (1u128 << bits) - 1
            };
            Flat {
                start,
                end: start + span,
                prefix: s.prefix,
                region: *r,
            }
        })
        .collect()
}

fn naive_flat(entries: &[Flat], key: u128) -> Option<RegionId> {
    let mut best: Option<(u8, RegionId)> = None;
    for f in entries {
        if f.start <= key && key <= f.end && best.is_none_or(|(p, _)| f.prefix > p) {
            best = Some((f.prefix, f.region));
        }
    }
    best.map(|(_, r)| r)
}

#[test]
fn randomized_against_linear_scan() {
    let mut rng = StdRng::seed_from_u64(0x5eed_cafe);
    // Cluster IPv4 too: addresses from a few /4s, many nested.
    let mut list: Vec<(Subnet, RegionId)> = Vec::new();
    let mut last = std::collections::HashMap::new();
    let mut b = SubnetTableBuilder::new();
    for _ in 0..20_000 {
        let mut s = random_subnet(&mut rng);
        if let IpAddr::V4(a) = s.addr {
            // Squeeze into 10.0.0.0/8-ish space to force nesting at short prefixes.
            let x = (u32::from(a) & 0x00ff_ffff) | 0x0a00_0000;
            s = Subnet::new(v4(x), s.prefix).unwrap();
        }
        let region = rng.random_range(0..50u32);
        b.insert(s, region);
        last.insert(s, region);
        list.push((s, region));
    }
    // Some duplicates with new regions.
    for i in 0..500 {
        let (s, _) = list[i * 7];
        let region = 1000 + i as u32;
        b.insert(s, region);
        last.insert(s, region);
    }
    // Keep one entry per subnet, with the last region inserted.
    let mut seen = std::collections::HashSet::new();
    list.retain(|(s, _)| seen.insert(*s));
    for e in list.iter_mut() {
        e.1 = last[&e.0];
    }
    assert_eq!(b.len(), list.len());
    let t = b.build();
    assert_eq!(t.len(), list.len());

    // Split per family to speed up the naive scan.
    let (l4, l6): (Vec<_>, Vec<_>) = list.iter().copied().partition(|(s, _)| s.addr.is_ipv4());
    let (l4, l6) = (flat(&l4), flat(&l6));
    let mut hits = 0;
    for i in 0..100_000u32 {
        let probe =
            match i % 4 {
                // inside or just around a random subnet
                0 | 1 => {
                    let (s, _) = list[rng.random_range(0..list.len())];
                    match s.addr {
                        IpAddr::V4(a) => {
                            let size = 1u64 << (32 - s.prefix);
                            let off = match rng.random_range(0..4) {
                                0 => -1i64,
                                1 => 0,
                                2 => size as i64 - 1,
                                _ => size as i64,
                            };
                            v4((u64::from(u32::from(a)) as i64 + off) as u32)
                        }
                        IpAddr::V6(a) => {
                            let base = u128::from(a);
                            let last = base | (u128::MAX >> s.prefix.min(127) >> (s.prefix / 128));
                            let last = if s.prefix == 128 { base } else { last };
                            v6(match rng.random_range(0..4) {
                                0 => base.wrapping_sub(1),
                                1 => base,
                                2 => last,
                                _ => last.wrapping_add(1),
                            })
                        }
                    }
                }
                2 => v4(0x0a00_0000 | (rng.random::<u32>() & 0x00ff_ffff)),
                _ => v6((u128::from(rng.random_range(0x20..0x24u8)) << 120)
                    | (rng.random::<u128>() >> 8)),
            };
        let want = match probe {
            IpAddr::V4(a) => naive_flat(&l4, u128::from(u32::from(a))),
            IpAddr::V6(a) => naive_flat(&l6, u128::from(a)),
        };
        assert_eq!(t.lookup(probe), want, "lookup {probe}");
        if want.is_some() {
            hits += 1;
        }
    }
    assert!(hits > 20_000, "too few hits to be meaningful: {hits}");
}

#[test]
fn big_table_uses_index() {
    // Enough ranges to build the bucket index; check against the small
    // (index-less) path via naive scan on a sample.
    let mut rng = StdRng::seed_from_u64(7);
    let mut b = SubnetTableBuilder::new();
    let mut list = Vec::new();
    for i in 0..5000u32 {
        let s = Subnet::new(v4(rng.random()), rng.random_range(16..=32)).unwrap();
        b.insert(s, i);
        list.retain(|(x, _)| *x != s);
        list.push((s, i));
    }
    let t = b.build();
    for _ in 0..20_000 {
        let (s, _) = list[rng.random_range(0..list.len())];
        let IpAddr::V4(a) = s.addr else {
            unreachable!()
        };
        let base = u32::from(a);
        for probe in [
            base.wrapping_sub(1),
            base,
            base | u32::MAX.checked_shr(u32::from(s.prefix)).unwrap_or(0),
        ] {
            let p = v4(probe);
            assert_eq!(t.lookup(p), naive(&list, p), "{p}");
        }
        let p = v4(rng.random());
        assert_eq!(t.lookup(p), naive(&list, p), "{p}");
    }
    assert_eq!(t.lookup(v4(0)), naive(&list, v4(0)));
    assert_eq!(t.lookup(v4(u32::MAX)), naive(&list, v4(u32::MAX)));
}

#[test]
fn shared_across_threads() {
    let t = std::sync::Arc::new(table(&[("10.0.0.0/8", 1)]));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || t.lookup(ip("10.1.1.1")))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), Some(1));
    }
}

// ---------------------------------------------------------------- import

#[test]
fn csv_parsing() {
    let input = "\u{feff}cidr,region\r\n\
                 # a comment\r\n\
                 \r\n\
                 10.0.0.0/8,moscow\r\n\
                 \x20 \"192.168.1.7/24\" , \"st \"\"petersburg\"\", north\" \r\n\
                 2001:db8::/32,kazan\n\
                 1.2.3.4,solo\n\
                 \x20  # indented comment\n";
    let got = parse_subnets(input.as_bytes()).unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].subnet, sn("10.0.0.0/8"));
    assert_eq!(got[0].region, "moscow");
    assert_eq!(got[0].line, 4);
    assert_eq!(got[1].subnet, sn("192.168.1.0/24"));
    assert_eq!(got[1].region, "st \"petersburg\", north");
    assert_eq!(got[1].line, 5);
    assert_eq!(got[2].subnet, sn("2001:db8::/32"));
    assert_eq!(got[2].line, 6);
    assert_eq!(got[3].subnet, sn("1.2.3.4/32"));
    assert_eq!(got[3].line, 7);
}

#[test]
fn csv_header_only_first() {
    // A header-like line later in the file is an error.
    let err = parse_subnets(b"10.0.0.0/8,a\ncidr,region\n").unwrap_err();
    let ImportError::Lines(lines) = err else {
        panic!("wrong error")
    };
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].0, 2);
}

#[test]
fn csv_errors_with_line_numbers() {
    let input = "cidr,region\n\
                 10.0.0.0/33,a\n\
                 300.1.1.1/8,b\n\
                 abc,c\n\
                 10.1.0.0/16\n\
                 10.2.0.0/16,\n\
                 10.3.0.0/16,ok\n\
                 \"10.4.0.0/16,x\n\
                 10.5.0.0/16,a,b\n";
    let err = parse_subnets(input.as_bytes()).unwrap_err();
    let msg = err.to_string();
    let ImportError::Lines(lines) = err else {
        panic!("wrong error: {msg}")
    };
    let nums: Vec<u64> = lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(nums, vec![2, 3, 4, 5, 6, 8, 9], "{msg}");
    assert!(lines[0].1.contains("10.0.0.0/33"), "{msg}");
    assert!(lines[1].1.contains("300.1.1.1/8"), "{msg}");
    assert!(lines[2].1.contains("abc"), "{msg}");
    assert!(lines[3].1.contains("missing region"), "{msg}");
    assert!(lines[4].1.contains("missing region"), "{msg}");
    assert!(msg.contains("line 3:"), "{msg}");
}

#[test]
fn csv_errors_capped_at_20_and_shortened() {
    let mut input = String::new();
    for i in 0..50 {
        input.push_str(&format!("bad{i},r\n"));
    }
    input.push_str(&format!("{},r\n", "x".repeat(500)));
    let ImportError::Lines(lines) = parse_subnets(input.as_bytes()).unwrap_err() else {
        panic!()
    };
    assert_eq!(lines.len(), 20);
    assert_eq!(lines[19].0, 20);

    let input = format!("{},r\n", "y".repeat(500));
    let ImportError::Lines(lines) = parse_subnets(input.as_bytes()).unwrap_err() else {
        panic!()
    };
    assert!(lines[0].1.chars().count() < 200, "{}", lines[0].1);
}

#[test]
fn empty_input() {
    assert!(parse_subnets(b"").unwrap().is_empty());
    assert!(parse_subnets(b"  \n\r\n# only comments\n")
        .unwrap()
        .is_empty());
    assert!(parse_subnets(b"cidr,region\n").unwrap().is_empty());
    assert!(parse_subnets("\u{feff}".as_bytes()).unwrap().is_empty());
}

const CZF: &str = r#"
{
  "revision": "Mon Dec 21 15:04:48 2015",
  "customerName": "Kabletown",
  "coverageZones": {
    "cache-group-01": {
      "coordinates": { "latitude": 1.1, "longitude": 2.2 },
      "network6": ["1234:5678::/64", "1234:5679::/64"],
      "network": ["192.168.8.0/24", "192.168.9.0/24"]
    },
    "cache-group-02": {
      "coordinates": { "latitude": 3.3, "longitude": 4.4 },
      "network6": ["1234:567a::/64", "1234:567b::/64"],
      "network": ["192.168.4.0/24", "192.168.5.0/24", "::ffff:10.0.0.1"]
    },
    "empty": {}
  }
}
"#;

#[test]
fn coverage_zone_json() {
    let got = parse_subnets(CZF.as_bytes()).unwrap();
    assert_eq!(got.len(), 9);
    assert!(got.iter().all(|s| s.line == 0));
    let find = |s: &str| {
        got.iter()
            .find(|x| x.subnet == sn(s))
            .unwrap()
            .region
            .clone()
    };
    assert_eq!(find("192.168.8.0/24"), "cache-group-01");
    assert_eq!(find("1234:5679::/64"), "cache-group-01");
    assert_eq!(find("192.168.5.0/24"), "cache-group-02");
    assert_eq!(find("1234:567b::/64"), "cache-group-02");
    assert_eq!(find("10.0.0.1/32"), "cache-group-02");

    // Into a table.
    let mut names: Vec<String> = Vec::new();
    let mut b = SubnetTableBuilder::new();
    for s in &got {
        let id = match names.iter().position(|n| *n == s.region) {
            Some(i) => i,
            None => {
                names.push(s.region.clone());
                names.len() - 1
            }
        };
        b.insert(s.subnet, id as RegionId);
    }
    let t = b.build();
    assert_eq!(t.lookup(ip("192.168.9.200")), Some(0));
    assert_eq!(t.lookup(ip("1234:567a::99")), Some(1));
    assert_eq!(t.lookup(ip("192.168.6.1")), None);
}

#[test]
fn coverage_zone_json_errors() {
    // Malformed JSON.
    let err = parse_subnets(b"  {\"coverageZones\": {\"a\": {\"network\": [\"1.2.3.0/24\",]}}}")
        .unwrap_err();
    assert!(matches!(err, ImportError::Json { line: 1, .. }), "{err}");
    assert!(
        err.to_string().contains("malformed coverage-zone JSON"),
        "{err}"
    );
    let err = parse_subnets(b"{").unwrap_err();
    assert!(matches!(err, ImportError::Json { .. }), "{err}");
    // Not a coverage-zone document.
    let err = parse_subnets(b"{\"revision\": 1}").unwrap_err();
    assert!(matches!(err, ImportError::Format(_)), "{err}");
    // Bad entries reported together.
    let doc = r#"{"coverageZones": {
        "a": {"network": ["10.0.0.0/33", "10.0.0.0/8", 5], "network6": ["zz::/64"]},
        "b": {"network": "1.2.3.4/32"}
    }}"#;
    let err = parse_subnets(doc.as_bytes()).unwrap_err();
    let msg = err.to_string();
    let ImportError::Lines(lines) = err else {
        panic!("{msg}")
    };
    assert_eq!(lines.len(), 4, "{msg}");
    assert!(
        lines[0].1.contains("10.0.0.0/33") && lines[0].1.contains("\"a\""),
        "{msg}"
    );
    assert!(lines[1].1.contains("not a string"), "{msg}");
    assert!(lines[2].1.contains("zz::/64"), "{msg}");
    assert!(lines[3].1.contains("not an array"), "{msg}");
}

fn mutate(rng: &mut StdRng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    let n = rng.random_range(1..=8);
    const INTERESTING: &[u8] = b"{}[]\",:/.#\r\n\0 -0123456789abcdef\xef\xbb\xbf\xff";
    for _ in 0..n {
        if v.is_empty() {
            v.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..v.len());
        match rng.random_range(0..6) {
            0 => v[at] = rng.random(),
            1 => v[at] = INTERESTING[rng.random_range(0..INTERESTING.len())],
            2 => {
                v.remove(at);
            }
            3 => v.insert(at, INTERESTING[rng.random_range(0..INTERESTING.len())]),
            4 => {
                let len = rng.random_range(0..=(v.len() - at).min(40));
                let chunk: Vec<u8> = v[at..at + len].to_vec();
                let to = rng.random_range(0..=v.len());
                v.splice(to..to, chunk);
            }
            _ => v.truncate(at),
        }
    }
    v
}

#[test]
fn mutations_never_panic() {
    let csv = b"cidr,region\n# c\n10.0.0.0/8,\"a b\"\n2001:db8::/32,c\r\n192.168.0.1,d\n";
    let mut rng = StdRng::seed_from_u64(42);
    let (mut ok, mut err) = (0, 0);
    for i in 0..2000 {
        let base: &[u8] = if i % 2 == 0 { csv } else { CZF.as_bytes() };
        let input = mutate(&mut rng, base);
        match parse_subnets(&input) {
            Ok(list) => {
                ok += 1;
                let mut b = SubnetTableBuilder::new();
                for (j, s) in list.iter().enumerate() {
                    b.insert(s.subnet, j as RegionId);
                }
                let t = b.build();
                let _ = t.lookup(ip("10.1.1.1"));
            }
            Err(e) => {
                err += 1;
                let _ = e.to_string();
            }
        }
    }
    assert!(ok > 0 && err > 0, "ok {ok} err {err}");
}
