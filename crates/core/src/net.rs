//! IP networks (CIDR) for subnet rules, trusted proxies and geolocation.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network such as `10.0.0.0/8` or `2001:db8::/32`; a bare
/// address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network address (host bits cleared).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside the network. An IPv4 address matches an
    /// IPv4-mapped IPv6 network and the other way round.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, prefix) = (ip_key(self.addr), self.prefix_in_v6());
        let key = ip_key(ip);
        let full = usize::from(prefix / 8);
        if net[..full] != key[..full] {
            return false;
        }
        let rest = prefix % 8;
        rest == 0 || {
            let mask = 0xffu8 << (8 - rest);
            net[full] & mask == key[full] & mask
        }
    }

    fn prefix_in_v6(&self) -> u8 {
        match self.addr {
            IpAddr::V4(_) => self.prefix + 96,
            IpAddr::V6(_) => self.prefix,
        }
    }
}

/// The subscriber's address: the first address of `X-Real-IP`, else of
/// `X-Forwarded-For`, when the peer is a trusted proxy; else the peer. A
/// header that does not parse as an address is ignored.
pub fn client_ip(
    peer: IpAddr,
    real_ip: Option<&str>,
    forwarded_for: Option<&str>,
    trusted: &[Cidr],
) -> IpAddr {
    if !trusted.iter().any(|net| net.contains(peer)) {
        return peer;
    }
    let first = |v: Option<&str>| {
        v.and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    };
    first(real_ip)
        .or_else(|| first(forwarded_for))
        .unwrap_or(peer)
}

/// `ip` as 16 big-endian bytes, IPv4 mapped into `::ffff:0:0/96`, so that
/// one byte-wise order covers both families.
pub fn ip_key(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Why a string is not a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseCidrError(String);

impl fmt::Display for ParseCidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseCidrError {}

impl FromStr for Cidr {
    type Err = ParseCidrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseCidrError(format!("`{s}` is not a network such as 10.0.0.0/8"));
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = match prefix {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        // Clear host bits so that equal networks compare equal.
        let addr = match addr {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let mask = if prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - prefix)
                };
                IpAddr::V4((bits & mask).into())
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = if prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - prefix)
                };
                IpAddr::V6((bits & mask).into())
            }
        };
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parses a comma- or whitespace-separated list of networks.
pub fn parse_list(s: &str) -> Result<Vec<Cidr>, ParseCidrError> {
    s.split([',', ' ', '\n', '\t'])
        .filter(|p| !p.trim().is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn contains_for_both_families() {
        let net: Cidr = "10.1.2.3/16".parse().unwrap();
        assert_eq!(net.to_string(), "10.1.0.0/16");
        assert!(net.contains(ip("10.1.255.1")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "mapped IPv4");
        let v6: Cidr = "2001:db8::/33".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:7fff::1")));
        assert!(!v6.contains(ip("2001:db8:8000::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        let host: Cidr = "192.0.2.7".parse().unwrap();
        assert!(host.contains(ip("192.0.2.7")) && !host.contains(ip("192.0.2.8")));
    }

    #[test]
    fn rejects_bad_networks() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "x",
            "10.0.0.0/-1",
            "1.2.3.4/8/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        assert_eq!(parse_list("10.0.0.0/8, 192.168.0.0/16").unwrap().len(), 2);
        assert!(parse_list("10.0.0.0/8, nope").is_err());
    }

    #[test]
    fn keys_order_addresses() {
        assert!(ip_key(ip("1.2.3.4")) < ip_key(ip("1.2.3.5")));
        assert!(ip_key(ip("255.255.255.255")) < ip_key(ip("2001::1")));
    }
}
