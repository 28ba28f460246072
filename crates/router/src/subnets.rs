//! The subnet table.
//!
//! Maps a client IP (IPv4 or IPv6) to a region by longest-prefix match over
//! the operator's subnets.
//!
//! * [`Subnet`]: a network address and prefix length, normalised (host bits
//!   cleared, IPv4-mapped IPv6 prefixes turned into IPv4).
//! * [`SubnetTableBuilder`] collects `(subnet, region)` pairs (a later insert
//!   of the same subnet wins) and [`SubnetTableBuilder::build`]s an immutable
//!   [`SubnetTable`].
//! * [`SubnetTable`] resolves nesting once at build time into a sorted array
//!   of disjoint address ranges per family, so a lookup is one bucketed
//!   binary search (a 64 Ki-entry index on the top 16 address bits narrows
//!   the search to a handful of entries). It is immutable, `Send + Sync` and
//!   meant to be shared in an `Arc` and swapped as a whole snapshot.
//! * [`parse_subnets`] reads the operator's files: CSV `cidr,region` lines or
//!   an Apache Traffic Control coverage-zone JSON document.
//!
//! Memory: 8 bytes per IPv4 range and 20 bytes per IPv6 range (at most two
//! ranges per subnet), plus 256 KiB of index per family.

mod import;

pub use import::{parse_subnets, ImportError, ImportedSubnet};

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Region ids are small integers assigned by the caller.
pub type RegionId = u32;

/// A subnet: network address and prefix length.
///
/// Values produced by [`Subnet::new`] and [`FromStr`] are normalised: host
/// bits are zero and IPv4-mapped IPv6 prefixes (`::ffff:a.b.c.d/n`, `n >= 96`)
/// are IPv4. Since the fields are public, a hand-built value may not be;
/// [`SubnetTableBuilder::insert`] normalises it (see [`Subnet::normalized`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix: u8,
}

/// Why a subnet string or value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid subnet {input:?}: {reason}")]
pub struct SubnetParseError {
    /// The offending input, shortened to 80 characters.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl SubnetParseError {
    fn new(input: &str, reason: &'static str) -> Self {
        Self {
            input: shorten(input),
            reason,
        }
    }
}

/// Shortens `s` to at most 80 characters (appending `…` when cut).
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        None => s.to_string(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

impl Subnet {
    /// A normalised subnet: host bits cleared, IPv4-mapped IPv6 prefixes of
    /// length 96 or more turned into IPv4. Errors when the prefix is longer
    /// than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, SubnetParseError> {
        let max = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        if prefix > max {
            return Err(SubnetParseError::new(
                &format!("{addr}/{prefix}"),
                "prefix length too long for the address family",
            ));
        }
        Ok(Self { addr, prefix }.normalized())
    }

    /// This subnet normalised: a prefix longer than the address is clamped,
    /// IPv4-mapped IPv6 prefixes of length 96 or more become IPv4, and host
    /// bits are cleared.
    pub fn normalized(self) -> Self {
        match self.addr {
            IpAddr::V4(a) => {
                let prefix = self.prefix.min(32);
                let bits = u32::from(a) & mask32(prefix);
                Self {
                    addr: IpAddr::V4(Ipv4Addr::from(bits)),
                    prefix,
                }
            }
            IpAddr::V6(a) => {
                let prefix = self.prefix.min(128);
                if prefix >= 96 {
                    if let Some(v4) = a.to_ipv4_mapped() {
                        return Self {
                            addr: IpAddr::V4(v4),
                            prefix: prefix - 96,
                        }
                        .normalized();
                    }
                }
                let bits = u128::from(a) & mask128(prefix);
                Self {
                    addr: IpAddr::V6(Ipv6Addr::from(bits)),
                    prefix,
                }
            }
        }
    }

    /// Whether `ip` lies inside this subnet (IPv4-mapped IPv6 addresses are
    /// treated as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let s = self.normalized();
        match (s.addr, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(s.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(s.prefix) == u128::from(n),
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix.min(128)))
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, everything else unchanged.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

impl FromStr for Subnet {
    type Err = SubnetParseError;

    /// Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (`/32` or
    /// `/128`); surrounding whitespace is ignored. The result is normalised.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim();
        if s.is_empty() {
            return Err(SubnetParseError::new(input, "empty"));
        }
        let (addr_s, prefix_s) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_s
            .parse()
            .map_err(|_| SubnetParseError::new(input, "not an IPv4 or IPv6 address"))?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_s {
            None => max,
            Some(p) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SubnetParseError::new(
                        input,
                        "prefix length is not a number",
                    ));
                }
                let n: u16 = p
                    .parse()
                    .map_err(|_| SubnetParseError::new(input, "prefix length is not a number"))?;
                if n > u16::from(max) {
                    return Err(SubnetParseError::new(
                        input,
                        if max == 32 {
                            "prefix length over 32 for IPv4"
                        } else {
                            "prefix length over 128 for IPv6"
                        },
                    ));
                }
                n as u8
            }
        };
        Ok(Self { addr, prefix }.normalized())
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Collects `(subnet, region)` pairs, then builds an immutable
/// [`SubnetTable`].
#[derive(Debug, Default)]
pub struct SubnetTableBuilder {
    entries: HashMap<Subnet, RegionId>,
}

impl SubnetTableBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `subnet` (normalised first) mapped to `region`; a later insert of
    /// the same subnet wins.
    pub fn insert(&mut self, subnet: Subnet, region: RegionId) {
        self.entries.insert(subnet.normalized(), region);
    }

    /// The number of distinct subnets inserted so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing has been inserted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Resolves nesting into disjoint ranges and builds the table; O(n log n).
    pub fn build(self) -> SubnetTable {
        let len = self.entries.len();
        let mut regions: Vec<RegionId> = Vec::new();
        let mut slot_of: HashMap<RegionId, u32> = HashMap::new();
        let mut v4: Vec<Prefix> = Vec::new();
        let mut v6: Vec<Prefix> = Vec::new();
        for (subnet, region) in self.entries {
            let slot = *slot_of.entry(region).or_insert_with(|| {
                regions.push(region);
                regions.len() as u32 // slot 0 means "no region"
            });
            match subnet.addr {
                IpAddr::V4(a) => {
                    let start = u128::from(u32::from(a));
                    let size_bits = 32 - u32::from(subnet.prefix);
                    let end = start + ((1u128 << size_bits) - 1);
                    v4.push(Prefix { start, end, slot });
                }
                IpAddr::V6(a) => {
                    let start = u128::from(a);
                    let end = start | !mask128(subnet.prefix);
                    v6.push(Prefix { start, end, slot });
                }
            }
        }
        let v4 = Ranges::<u32>::from_breakpoints(flatten(v4, u128::from(u32::MAX)));
        let v6 = Ranges::<u128>::from_breakpoints(flatten(v6, u128::MAX));
        regions.shrink_to_fit();
        SubnetTable {
            v4,
            v6,
            regions,
            len,
        }
    }
}

/// One prefix as an inclusive range, during building.
#[derive(Clone, Copy)]
struct Prefix {
    start: u128,
    end: u128,
    slot: u32,
}

/// Turns (nested or disjoint, never partially overlapping) prefixes into
/// breakpoints `(start, slot)`: from `start` up to the next breakpoint the
/// longest matching prefix has `slot` (0 = none). The first breakpoint is at
/// 0; consecutive breakpoints have different slots. Empty when no prefixes.
fn flatten(mut prefixes: Vec<Prefix>, max: u128) -> Vec<(u128, u32)> {
    let mut out: Vec<(u128, u32)> = Vec::new();
    if prefixes.is_empty() {
        return out;
    }
    // Parents (wider ranges) before their children at the same start.
    prefixes.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    out.push((0, 0));
    // Coverage changes to `slot` at `start`; starts never decrease.
    let mut emit = |start: u128, slot: u32| {
        let n = out.len();
        let last = out[n - 1];
        if last.0 == start {
            if n >= 2 && out[n - 2].1 == slot {
                out.pop();
            } else {
                out[n - 1].1 = slot;
            }
        } else if last.1 != slot {
            out.push((start, slot));
        }
    };
    let mut stack: Vec<Prefix> = Vec::new();
    for p in prefixes {
        while let Some(top) = stack.last().copied() {
            if top.end >= p.start {
                break;
            }
            stack.pop();
            // top.end < p.start, so no overflow.
            emit(top.end + 1, stack.last().map_or(0, |t| t.slot));
        }
        emit(p.start, p.slot);
        stack.push(p);
    }
    while let Some(top) = stack.pop() {
        if let Some(next) = top.end.checked_add(1) {
            if next <= max {
                emit(next, stack.last().map_or(0, |t| t.slot));
            }
        }
    }
    out
}

/// An address key of one family.
trait Key: Copy + Ord {
    fn from_u128(v: u128) -> Self;
    /// The top 16 bits.
    fn bucket(self) -> usize;
}

impl Key for u32 {
    fn from_u128(v: u128) -> Self {
        v as u32
    }
    fn bucket(self) -> usize {
        (self >> 16) as usize
    }
}

impl Key for u128 {
    fn from_u128(v: u128) -> Self {
        v
    }
    fn bucket(self) -> usize {
        (self >> 112) as usize
    }
}

/// Below this many ranges no index is built (plain binary search).
const INDEX_MIN: usize = 512;
const BUCKETS: usize = 1 << 16;

/// Disjoint ranges of one family: `starts[i]..starts[i+1]` has `slots[i]`.
struct Ranges<K> {
    starts: Vec<K>,
    slots: Vec<u32>,
    /// `index[b]` = number of starts below bucket `b`'s first address;
    /// `BUCKETS + 1` entries, or empty for small tables.
    index: Vec<u32>,
}

impl<K: Key> Ranges<K> {
    fn from_breakpoints(points: Vec<(u128, u32)>) -> Self {
        let mut starts = Vec::with_capacity(points.len());
        let mut slots = Vec::with_capacity(points.len());
        for (s, slot) in points {
            starts.push(K::from_u128(s));
            slots.push(slot);
        }
        let mut index = Vec::new();
        if starts.len() >= INDEX_MIN {
            index.reserve_exact(BUCKETS + 1);
            let mut i = 0usize;
            for b in 0..BUCKETS {
                // Count starts whose bucket is below b.
                while i < starts.len() && starts[i].bucket() < b {
                    i += 1;
                }
                index.push(i as u32);
            }
            index.push(starts.len() as u32);
        }
        Self {
            starts,
            slots,
            index,
        }
    }

    #[inline]
    fn slot(&self, key: K) -> u32 {
        if self.starts.is_empty() {
            return 0;
        }
        let i = if self.index.is_empty() {
            self.starts.partition_point(|&s| s <= key) - 1
        } else {
            let b = key.bucket();
            let lo = self.index[b] as usize;
            let hi = self.index[b + 1] as usize;
            let k = self.starts[lo..hi].partition_point(|&s| s <= key);
            // k == 0: the answer is the last start of an earlier bucket; then
            // lo >= 1, since starts[0] == 0 lies in bucket 0 and is <= key.
            lo + k - 1
        };
        self.slots[i]
    }

    fn heap_bytes(&self) -> usize {
        self.starts.capacity() * std::mem::size_of::<K>()
            + self.slots.capacity() * 4
            + self.index.capacity() * 4
    }

    fn ranges(&self) -> usize {
        self.starts.len()
    }
}

/// An immutable longest-prefix-match table from IP addresses to regions.
///
/// `Send + Sync`; share it in an `Arc` and swap whole snapshots.
pub struct SubnetTable {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
    /// Region of slot `i` is `regions[i - 1]`; slot 0 is "no region".
    regions: Vec<RegionId>,
    len: usize,
}

impl fmt::Debug for SubnetTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubnetTable")
            .field("subnets", &self.len)
            .field("ranges_v4", &self.v4.ranges())
            .field("ranges_v6", &self.v6.ranges())
            .field("regions", &self.regions.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}

impl SubnetTable {
    /// The region of the longest prefix containing `ip` (IPv4-mapped IPv6
    /// addresses are looked up as IPv4).
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<RegionId> {
        let slot = match canonical(ip) {
            IpAddr::V4(a) => self.v4.slot(u32::from(a)),
            IpAddr::V6(a) => self.v6.slot(u128::from(a)),
        };
        if slot == 0 {
            None
        } else {
            Some(self.regions[slot as usize - 1])
        }
    }

    /// The number of distinct subnets in the table.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no subnets.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Approximate heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes() + self.regions.capacity() * 4
    }

    /// The number of disjoint IPv4 and IPv6 ranges the subnets resolved to
    /// (including gaps without a region).
    pub fn range_counts(&self) -> (usize, usize) {
        (self.v4.ranges(), self.v6.ranges())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sn(s: &str) -> Subnet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(sn("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(sn("10.1.2.3").to_string(), "10.1.2.3/32");
        assert_eq!(sn("2001:db8::1").to_string(), "2001:db8::1/128");
        assert_eq!(sn("2001:db8:ffff::/32").to_string(), "2001:db8::/32");
        assert_eq!(sn("::ffff:10.1.2.3/104").to_string(), "10.0.0.0/8");
        assert_eq!(sn("::ffff:10.1.2.3").to_string(), "10.1.2.3/32");
        assert_eq!(sn("::ffff:0:0/96").to_string(), "0.0.0.0/0");
        assert_eq!(sn("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(sn("::/0").to_string(), "::/0");
        for bad in [
            "10.0.0.0/33",
            "300.1.1.1/8",
            "abc",
            "",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "::/129",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
        ] {
            let e = bad.parse::<Subnet>().unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn flatten_nested() {
        let p = |s: u128, e: u128, slot| Prefix {
            start: s,
            end: e,
            slot,
        };
        let out = flatten(vec![p(0, 99, 1), p(10, 19, 2), p(10, 10, 3)], 255);
        assert_eq!(out, vec![(0, 1), (10, 3), (11, 2), (20, 1), (100, 0)]);
        let out = flatten(vec![p(0, 255, 1)], 255);
        assert_eq!(out, vec![(0, 1)]);
        let out = flatten(
            vec![p(0, u128::MAX, 1), p(u128::MAX, u128::MAX, 2)],
            u128::MAX,
        );
        assert_eq!(out, vec![(0, 1), (u128::MAX, 2)]);
        // Same region nested: merged.
        let out = flatten(vec![p(0, 99, 1), p(10, 19, 1)], 255);
        assert_eq!(out, vec![(0, 1), (100, 0)]);
        let out = flatten(vec![p(5, 9, 1), p(10, 19, 1)], 255);
        assert_eq!(out, vec![(0, 0), (5, 1), (20, 0)]);
    }

    #[test]
    fn table_basics() {
        let mut b = SubnetTableBuilder::new();
        b.insert(sn("10.0.0.0/8"), 1);
        b.insert(sn("10.1.0.0/16"), 2);
        b.insert(sn("10.1.2.0/24"), 3);
        b.insert(sn("2001:db8::/32"), 4);
        let t = b.build();
        assert_eq!(t.len(), 4);
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(3));
        assert_eq!(t.lookup(ip("10.1.3.3")), Some(2));
        assert_eq!(t.lookup(ip("10.2.3.3")), Some(1));
        assert_eq!(t.lookup(ip("11.0.0.0")), None);
        assert_eq!(t.lookup(ip("::ffff:10.1.2.3")), Some(3));
        assert_eq!(t.lookup(ip("2001:db8::1")), Some(4));
        assert_eq!(t.lookup(ip("2001:db9::1")), None);
        assert!(t.heap_bytes() > 0);
    }

    #[test]
    fn send_sync() {
        fn f<T: Send + Sync>() {}
        f::<SubnetTable>();
    }
}
