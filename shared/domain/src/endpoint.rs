//! Endpoints a tenant may make trustfn call (a registry's `endpointUrl`): hostile input. Only
//! `https`, no userinfo, query or fragment, and never a host that is, or resolves to, a
//! loopback, private, link-local, unique-local or otherwise internal address, unless the
//! deployment allows the URL's origin (`TRUSTFN_ALLOWED_ENDPOINTS`: the local emulators).
//!
//! URLs are parsed with the WHATWG rules (`url`), which normalise IPv4 spellings such as
//! `2130706433`, `0x7f000001` and `127.1` to `127.0.0.1` before any check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// The origins a deployment allows besides public `https` hosts. Empty in production.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    allowed: Vec<String>,
}

/// Why an endpoint is refused (for a 400 naming the field).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused(why: impl Into<String>) -> Refused {
    Refused(why.into())
}

impl Endpoints {
    /// From the deployment setting: origins (`scheme://host[:port]`) separated by commas or
    /// spaces. An origin that is not one is an error (a misconfigured deployment fails at start).
    pub fn from_setting(setting: &str) -> Result<Endpoints, String> {
        let mut allowed = Vec::new();
        for raw in setting
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let url = Url::parse(raw).map_err(|e| format!("allowed endpoint {raw:?}: {e}"))?;
            if url.host().is_none() || !matches!(url.scheme(), "http" | "https") {
                return Err(format!("allowed endpoint {raw:?} is not an http(s) origin"));
            }
            allowed.push(url.origin().ascii_serialization());
        }
        Ok(Endpoints { allowed })
    }

    /// Whether `url`'s origin is one the deployment allows.
    pub fn allows_origin(&self, url: &Url) -> bool {
        let origin = url.origin().ascii_serialization();
        self.allowed.contains(&origin)
    }

    /// Whether `host` (as a connection names it) belongs to an allowed origin.
    pub fn allows_host(&self, host: &str) -> bool {
        self.allowed.iter().any(|a| {
            Url::parse(a)
                .ok()
                .and_then(|u| u.host_str().map(|h| h.eq_ignore_ascii_case(host)))
                .unwrap_or(false)
        })
    }

    /// Checks an endpoint a tenant gave; answers it parsed. Host names are checked again,
    /// address by address, when the connection is made (see [`public_address`]).
    pub fn check(&self, raw: &str) -> Result<Url, Refused> {
        let url = Url::parse(raw.trim()).map_err(|e| refused(format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refused("must be an https URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("must not carry a user name or password"));
        }
        if url.query().is_some() {
            return Err(refused("must not carry a query ('?')"));
        }
        if url.fragment().is_some() {
            return Err(refused("must not carry a fragment ('#')"));
        }
        if self.allows_origin(&url) {
            return Ok(url);
        }
        if url.scheme() != "https" {
            return Err(refused("must be an https URL"));
        }
        match url.host() {
            None => Err(refused("must name a host")),
            Some(Host::Domain(d)) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                let internal = ["localhost", "internal", "local", "localdomain", "home.arpa"]
                    .iter()
                    .any(|s| d == *s || d.ends_with(&format!(".{s}")));
                if internal {
                    Err(refused("must not name an internal host"))
                } else {
                    Ok(url)
                }
            }
            Some(Host::Ipv4(ip)) => public_or_refused(IpAddr::V4(ip)).map(|_| url),
            Some(Host::Ipv6(ip)) => public_or_refused(IpAddr::V6(ip)).map(|_| url),
        }
    }
}

fn public_or_refused(ip: IpAddr) -> Result<(), Refused> {
    if public_address(ip) {
        Ok(())
    } else {
        Err(refused(
            "must not name a loopback, private, link-local or otherwise internal address",
        ))
    }
}

/// Whether trustfn may connect to `ip` on a tenant's behalf: not loopback, private, shared,
/// link-local, unique-local, multicast, reserved or unspecified, in any IPv6 form of those.
pub fn public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn public_v4(ip: Ipv4Addr) -> bool {
    // The IANA IPv4 Special-Purpose Address Registry's ranges that are not globally
    // reachable (or are documentation/benchmark/relay ranges), and multicast.
    const BLOCKED: [([u8; 4], u32); 15] = [
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 24),
        ([192, 0, 2, 0], 24),
        ([192, 88, 99, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([224, 0, 0, 0], 4),
        ([240, 0, 0, 0], 4),
    ];
    !BLOCKED.iter().any(|(net, p)| in_v4(ip, *net, *p))
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d)
    // addresses reach the IPv4 address they embed.
    let embedded = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) && !(s[5] == 0 && s[6] == 0) {
        return public_v4(embedded);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return public_v4(embedded);
    }
    // The IANA IPv6 Special-Purpose Address Registry: every range that embeds an IPv4 address
    // in another form or is not globally reachable.
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || s[..4] == [0, 0, 0, 0] // ::/64 remainders: IPv4-translated ::ffff:0:0:0/96 and the like
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || s[..4] == [0x100, 0, 0, 0] // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments 2001::/23 (Teredo ...)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || s[0] == 0x2002 // 6to4 2002::/16 (embeds an IPv4 address)
        || (s[0] & 0xfff0) == 0x3ff0 // documentation 3fff::/20
        || s[0] == 0x5f00 // SRv6 SIDs 5f00::/16
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0) // site-local (deprecated) fec0::/10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_internal_and_ambiguous_endpoints() {
        let none = Endpoints::default();
        for bad in [
            "http://storage.example.com",
            "https://127.0.0.1:4566",
            "https://localhost",
            "https://LOCALHOST.",
            "https://metadata.google.internal",
            "https://[::1]",
            "https://[::]",
            "https://[::ffff:127.0.0.1]",
            "https://[::ffff:a9fe:a9fe]",
            "https://[64:ff9b::a9fe:a9fe]",
            "https://[64:ff9b:1::a9fe:a9fe]",
            "https://[2002:a9fe:a9fe::1]",
            "https://[2002:7f00:1::]",
            "https://[::ffff:0:a9fe:a9fe]",
            "https://[::ffff:0:7f00:1]",
            "https://[100::1]",
            "https://[2001::a9fe:a9fe]",
            "https://[3fff::1]",
            "https://198.51.100.7",
            "https://203.0.113.7",
            "https://[fd00::1]",
            "https://[fe80::1]",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1",
            "https://172.31.255.255",
            "https://192.168.1.1",
            "https://100.64.0.1",
            "https://0.0.0.0",
            "https://2130706433",
            "https://0x7f000001",
            "https://0177.0.0.1",
            "https://127.1",
            "https://user:pw@storage.example.com",
            "https://storage.example.com/x?sig=1",
            "https://storage.example.com/status-lists/x#",
            "https://storage.example.com?",
            "ftp://storage.example.com",
            "storage.example.com",
        ] {
            assert!(none.check(bad).is_err(), "{bad} was accepted");
        }
        for good in [
            "https://storage.example.com",
            "https://s3.eu-central-1.amazonaws.com/",
            "https://acct.blob.core.windows.net/path",
            "https://8.8.8.8",
            "https://[2a00:1450::1]",
        ] {
            assert!(none.check(good).is_ok(), "{good} was refused");
        }
    }

    #[test]
    fn allowed_origins_are_exact() {
        let local =
            Endpoints::from_setting("http://127.0.0.1:4566, http://127.0.0.1:10000").unwrap();
        assert!(local.check("http://127.0.0.1:4566").is_ok());
        assert!(local
            .check("http://127.0.0.1:10000/devstoreaccount1")
            .is_ok());
        assert!(
            local.check("http://127.0.0.1:4567").is_err(),
            "another port"
        );
        assert!(
            local.check("https://127.0.0.1:4566").is_err(),
            "another scheme"
        );
        assert!(
            local.check("http://2130706433:4566").is_ok(),
            "the same origin, spelled otherwise"
        );
        assert!(
            local
                .check("http://127.0.0.1:4566/status-lists/x#")
                .is_err(),
            "an allowed origin still takes no fragment"
        );
        assert!(local.allows_host("127.0.0.1") && !local.allows_host("10.0.0.1"));
        assert!(Endpoints::from_setting("127.0.0.1:4566").is_err());
        assert_eq!(Endpoints::from_setting("").unwrap(), Endpoints::default());
    }

    #[test]
    fn public_addresses() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "2001:4860:4860::8888",
            "2606:4700::1111",
        ] {
            assert!(public_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.53",
            "10.1.2.3",
            "fc00::1",
            "::ffff:10.0.0.1",
            "ff02::1",
            "::1",
        ] {
            assert!(!public_address(ip.parse().unwrap()), "{ip}");
        }
    }
}
