//! Where berth may connect: upstream URLs are user input, so every URL (the first, every
//! redirect, a token realm) must be http or https, and every address a host resolves to
//! must be outside the refused networks (link-local, cloud metadata, loopback, ... by
//! default) unless an allowed network holds it. Host names are resolved by
//! [`PolicyResolver`], which hands the connector only addresses it checked, so a name cannot
//! pass the check and then connect elsewhere.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// An IP network: an address and a prefix length (`169.254.0.0/16`, `fe80::/10`; a bare
/// address is a network of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Network, String> {
        let (address, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let address: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a network (address/prefix, e.g. 10.0.0.0/8)"))?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Network { address, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The networks refused unless allowed: "this network", loopback, link-local (which holds
/// the metadata service of most clouds, 169.254.169.254), multicast and reserved ranges,
/// Alibaba Cloud's metadata address and AWS's IPv6 one. Private ranges (10/8, 192.168/16,
/// fc00::/7, ...) are allowed: registries on a company network are the common case.
pub const DEFAULT_DENY: &[&str] = &[
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.100.100.200/32",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fe80::/10",
    "ff00::/8",
    "fd00:ec2::254/128",
];

/// Which addresses berth may connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Allowed even when a refused network holds them (loopback in tests).
    pub allow: Vec<Network>,
    pub deny: Vec<Network>,
}

impl Default for AddressPolicy {
    fn default() -> Self {
        AddressPolicy {
            allow: Vec::new(),
            deny: DEFAULT_DENY
                .iter()
                .map(|n| n.parse().expect("the default networks parse"))
                .collect(),
        }
    }
}

impl AddressPolicy {
    /// Why `ip` is refused, or `None` when berth may connect to it.
    pub fn refusal(&self, ip: IpAddr) -> Option<Refusal> {
        let ip = canonical(ip);
        if self.allow.iter().any(|n| n.contains(ip)) {
            return None;
        }
        self.deny
            .iter()
            .find(|n| n.contains(ip))
            .map(|n| Refusal(format!("the address {ip} is in the refused network {n}")))
    }

    /// Checks a URL before any request to it: its scheme, and its host when that is an
    /// address (names are checked when they are resolved).
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(Refusal(format!(
                "the scheme {:?} is refused: only http and https",
                url.scheme()
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal("URLs with credentials in them are refused".into()));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Refusal("a URL without a host".into()))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>()
            && let Some(refused) = self.refusal(ip)
        {
            return Err(refused);
        }
        Ok(())
    }
}

/// A request berth's rules refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Resolves host names with the system resolver, then refuses the name if any of its
/// addresses is refused (a name with one good and one metadata address is refused: which
/// one the connector picks is not ours to decide).
pub struct PolicyResolver {
    pub policy: Arc<AddressPolicy>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if found.is_empty() {
                return Err(format!("{host} has no address").into());
            }
            for addr in &found {
                if let Some(Refusal(why)) = policy.refusal(addr.ip()) {
                    return Err(Box::new(Refusal(format!("{host}: {why}")))
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks() {
        let n: Network = "169.254.0.0/16".parse().unwrap();
        assert!(n.contains(ip("169.254.169.254")));
        assert!(n.contains(ip("::ffff:169.254.169.254")));
        assert!(!n.contains(ip("169.255.0.1")));
        assert!(!n.contains(ip("fe80::1")));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let one: Network = "10.1.2.3".parse().unwrap();
        assert_eq!(one.to_string(), "10.1.2.3/32");
        assert!(one.contains(ip("10.1.2.3")) && !one.contains(ip("10.1.2.4")));
        let v6: Network = "fe80::/10".parse().unwrap();
        assert!(v6.contains(ip("fe80::abcd")) && v6.contains(ip("febf::1")));
        assert!(!v6.contains(ip("fec0::1")));
        for bad in ["", "10.0.0.0/33", "::/129", "example.com/8", "10.0.0.0/x"] {
            assert!(bad.parse::<Network>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn default_policy() {
        let policy = AddressPolicy::default();
        for refused in [
            "169.254.169.254",
            "169.254.0.1",
            "::ffff:169.254.169.254",
            "100.100.100.200",
            "fd00:ec2::254",
            "fe80::1",
            "127.0.0.1",
            "::1",
            "0.0.0.0",
            "224.0.0.1",
        ] {
            assert!(policy.refusal(ip(refused)).is_some(), "{refused}");
        }
        for allowed in [
            "10.0.0.5",
            "192.168.1.10",
            "8.8.8.8",
            "2001:db8::1",
            "fd12::1",
        ] {
            assert!(policy.refusal(ip(allowed)).is_none(), "{allowed}");
        }
        assert!(policy.refusal(IpAddr::V4(Ipv4Addr::UNSPECIFIED)).is_some());
        assert!(policy.refusal(IpAddr::V6(Ipv6Addr::LOCALHOST)).is_some());
        let tests = AddressPolicy {
            allow: vec!["127.0.0.0/8".parse().unwrap()],
            ..AddressPolicy::default()
        };
        assert!(tests.refusal(ip("127.0.0.1")).is_none());
        assert!(tests.refusal(ip("169.254.169.254")).is_some());
    }

    #[test]
    fn urls() {
        let policy = AddressPolicy::default();
        let check = |u: &str| policy.check_url(&Url::parse(u).unwrap());
        assert!(check("https://registry.example.com/v2/").is_ok());
        assert!(check("http://10.0.0.1:5000/v2/").is_ok());
        assert!(check("ftp://registry.example.com/").is_err());
        assert!(check("file:///etc/passwd").is_err());
        assert!(check("gopher://x.example/").is_err());
        assert!(check("http://169.254.169.254/latest/meta-data/").is_err());
        assert!(check("http://[::ffff:169.254.169.254]/").is_err());
        assert!(check("http://[fe80::1]:80/").is_err());
        assert!(check("http://user:pw@registry.example.com/").is_err());
    }
}
