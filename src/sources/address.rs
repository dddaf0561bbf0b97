//! Which network addresses govwatch may connect to. Pure: addresses and
//! host names in, decisions out; `sources::fetch` and `linkcheck` enforce
//! them where the connection is made.
//!
//! A remote document decides where govwatch goes next: a column page's links
//! and 下一页, an article's links (checked for dead links), a redirect. None
//! of them may lead to a loopback, private, link-local, shared (CGNAT),
//! unique-local, multicast or otherwise non-public address — that is where a
//! county server's own services and a cloud machine's metadata endpoint
//! (`169.254.169.254`, Alibaba Cloud's `100.100.100.200`, AWS's
//! `fd00:ec2::254`) live. IPv6 forms that carry an IPv4 address
//! (`::ffff:10.0.0.1`, NAT64 `64:ff9b::a00:1`, 6to4 `2002:a00:1::`) are
//! judged by the IPv4 address they carry.
//!
//! Two exceptions, both written by the administrator: the hosts of the
//! configured sources themselves (a county intranet portal at `10.1.2.3` links
//! to its own pages), and `fetch.allow_private`, a list of host names, IP
//! addresses and networks (`10.1.0.0/16`).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use thiserror::Error;

/// What kind of non-public address an address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Unspecified,
    Loopback,
    Private,
    /// 169.254.0.0/16, fe80::/10 — the cloud metadata address is one.
    LinkLocal,
    /// 100.64.0.0/10, carrier-grade NAT; Alibaba Cloud's metadata service is at 100.100.100.200.
    Shared,
    /// fc00::/7.
    UniqueLocal,
    Multicast,
    Documentation,
    /// Reserved, benchmarking, broadcast, deprecated or tunnelling ranges.
    Reserved,
}

impl Special {
    /// For officers' eyes.
    pub fn zh(self) -> &'static str {
        match self {
            Special::Unspecified => "未指定地址",
            Special::Loopback => "本机回环地址",
            Special::Private => "内网地址",
            Special::LinkLocal => "链路本地地址（含云服务器元数据地址 169.254.169.254）",
            Special::Shared => "运营商共享地址（100.64.0.0/10，含阿里云元数据地址 100.100.100.200）",
            Special::UniqueLocal => "IPv6 内网地址（fc00::/7）",
            Special::Multicast => "组播地址",
            Special::Documentation => "文档示例地址",
            Special::Reserved => "保留地址",
        }
    }
}

fn v4_in(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn v6_in(ip: Ipv6Addr, net: Ipv6Addr, bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
    (u128::from(ip) & mask) == (u128::from(net) & mask)
}

fn special_v4(ip: Ipv4Addr) -> Option<Special> {
    const TABLE: &[([u8; 4], u32, Special)] = &[
        ([0, 0, 0, 0], 8, Special::Unspecified),
        ([10, 0, 0, 0], 8, Special::Private),
        ([100, 64, 0, 0], 10, Special::Shared),
        ([127, 0, 0, 0], 8, Special::Loopback),
        ([169, 254, 0, 0], 16, Special::LinkLocal),
        ([172, 16, 0, 0], 12, Special::Private),
        ([192, 0, 0, 0], 24, Special::Reserved),
        ([192, 0, 2, 0], 24, Special::Documentation),
        ([192, 88, 99, 0], 24, Special::Reserved),
        ([192, 168, 0, 0], 16, Special::Private),
        ([198, 18, 0, 0], 15, Special::Reserved),
        ([198, 51, 100, 0], 24, Special::Documentation),
        ([203, 0, 113, 0], 24, Special::Documentation),
        ([224, 0, 0, 0], 4, Special::Multicast),
        ([240, 0, 0, 0], 4, Special::Reserved),
    ];
    TABLE.iter().find(|(net, bits, _)| v4_in(ip, *net, *bits)).map(|(_, _, s)| *s)
}

/// The IPv4 address an IPv6 address stands for, when it is one of the forms
/// that reach an IPv4 host: mapped, NAT64 (well-known prefix), 6to4.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let seg = ip.segments();
    let bits = u128::from(ip);
    if v6_in(ip, Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return Some(Ipv4Addr::from(bits as u32));
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::from(((seg[1] as u32) << 16) | seg[2] as u32));
    }
    None
}

fn special_v6(ip: Ipv6Addr) -> Option<Special> {
    if let Some(v4) = embedded_v4(ip) {
        // 6to4 and NAT64 of a public address are public; of a private one, not.
        return special_v4(v4);
    }
    if ip.is_unspecified() {
        return Some(Special::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Special::Loopback);
    }
    let table: &[(Ipv6Addr, u32, Special)] = &[
        // IPv4-compatible (deprecated) and the rest of ::/96.
        (Ipv6Addr::UNSPECIFIED, 96, Special::Reserved),
        // NAT64 for local use.
        (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, Special::Private),
        // Discard-only.
        (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, Special::Reserved),
        // Teredo tunnels: the IPv4 end is hidden; refuse.
        (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32, Special::Reserved),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, Special::Documentation),
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, Special::UniqueLocal),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, Special::LinkLocal),
        // Site-local (deprecated): private in practice.
        (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, Special::Private),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, Special::Multicast),
    ];
    if let Some((_, _, s)) = table.iter().find(|(net, bits, _)| v6_in(ip, *net, *bits)) {
        return Some(*s);
    }
    // Only 2000::/3 is global unicast.
    (!v6_in(ip, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3)).then_some(Special::Reserved)
}

/// What kind of non-public address `ip` is; `None` for a public address.
pub fn special(ip: IpAddr) -> Option<Special> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// An IPv6 address that stands for an IPv4 one, as that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One entry of `fetch.allow_private`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allowed {
    Host(String),
    Net(IpAddr, u32),
}

/// Reads one `fetch.allow_private` entry: a host name (`oa.county.gov.cn`),
/// an IP address (`10.1.2.3`, `fd00::1`) or a network (`10.1.0.0/16`).
fn parse_entry(s: &str) -> Result<Allowed, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("为空".into());
    }
    if s.contains("://") {
        return Err(format!("{s:?} 是网址；请只写主机名（如 oa.county.gov.cn）、IP 地址或网段（如 10.1.0.0/16）"));
    }
    if let Some((addr, bits)) = s.split_once('/') {
        let ip: IpAddr =
            addr.trim_matches(|c| c == '[' || c == ']').parse().map_err(|_| format!("{s:?}：{addr:?} 不是 IP 地址"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits: u32 =
            bits.parse().ok().filter(|b| *b <= max).ok_or_else(|| format!("{s:?}：前缀长度须是 0 到 {max} 的数"))?;
        return Ok(Allowed::Net(canonical(ip), bits));
    }
    if let Ok(ip) = s.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>() {
        let bits = if canonical(ip).is_ipv4() { 32 } else { 128 };
        return Ok(Allowed::Net(canonical(ip), bits));
    }
    let host = s.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_') {
        return Err(format!("{s:?} 不是主机名、IP 地址或网段（如 10.1.0.0/16）"));
    }
    Ok(Allowed::Host(host))
}

/// Checks `fetch.allow_private`: one message per bad entry, with its index.
pub fn check_allow_list(entries: &[String]) -> Vec<(usize, String)> {
    entries.iter().enumerate().filter_map(|(i, e)| parse_entry(e).err().map(|m| (i, m))).collect()
}

fn net_contains(net: IpAddr, bits: u32, ip: IpAddr) -> bool {
    match (net, canonical(ip)) {
        (IpAddr::V4(n), IpAddr::V4(i)) => v4_in(i, n.octets(), bits),
        (IpAddr::V6(n), IpAddr::V6(i)) => v6_in(i, n, bits),
        _ => false,
    }
}

/// A connection that was not made: where to, and why.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub ip: IpAddr,
    pub kind: Special,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.trim_matches(|c| c == '[' || c == ']') == self.ip.to_string() {
            write!(f, "{} 是{}", self.ip, self.kind.zh())?;
        } else {
            write!(f, "{} 解析为 {}，是{}", self.host, self.ip, self.kind.zh())?;
        }
        f.write_str("；远程内容和重定向不得指向内网、本机或云服务器元数据地址（确需访问请把该主机或网段加入 fetch.allow_private）")
    }
}

/// A redirect that was not followed because of where it led.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("重定向到 {url}")]
pub struct RedirectRefused {
    pub url: String,
    #[source]
    pub refused: Refused,
}

/// The decision for each (host, address) a fetch is about to connect to.
#[derive(Debug, Default)]
pub struct AddressPolicy {
    /// Hosts of configured sources and host names of `fetch.allow_private`, lower case.
    hosts: HashSet<String>,
    /// Networks of `fetch.allow_private` and addresses written as configured sources' hosts.
    nets: Vec<(IpAddr, u32)>,
    /// Addresses that configured sources' host names resolved to (learned by
    /// the resolver): a link written with the address of the same server is
    /// as allowed as one with its name.
    learned: Mutex<HashSet<IpAddr>>,
}

impl AddressPolicy {
    /// The policy for these configured source URLs (their hosts are allowed
    /// whatever they resolve to) and `fetch.allow_private` entries (entries
    /// that do not parse are skipped; `config check` reports them).
    pub fn new<'a>(source_urls: impl IntoIterator<Item = &'a str>, allow_private: &[String]) -> AddressPolicy {
        let mut p = AddressPolicy::default();
        for u in source_urls {
            if let Ok(url) = url::Url::parse(u.trim())
                && matches!(url.scheme(), "http" | "https")
            {
                match url.host() {
                    Some(url::Host::Domain(d)) => {
                        p.hosts.insert(d.trim_end_matches('.').to_ascii_lowercase());
                    }
                    Some(url::Host::Ipv4(ip)) => p.nets.push((IpAddr::V4(ip), 32)),
                    Some(url::Host::Ipv6(ip)) => p.nets.push((canonical(IpAddr::V6(ip)), 128)),
                    None => {}
                }
            }
        }
        for e in allow_private {
            match parse_entry(e) {
                Ok(Allowed::Host(h)) => {
                    p.hosts.insert(h);
                }
                Ok(Allowed::Net(ip, bits)) => p.nets.push((ip, bits)),
                Err(_) => {}
            }
        }
        p
    }

    /// Whether `host` (a name, as written in a URL) is one the administrator named.
    pub fn host_is_trusted(&self, host: &str) -> bool {
        self.hosts.contains(&host.trim_end_matches('.').to_ascii_lowercase())
    }

    /// Remembers that a trusted host name resolved to `ip`.
    pub fn learn(&self, ip: IpAddr) {
        self.learned.lock().unwrap_or_else(|e| e.into_inner()).insert(canonical(ip));
    }

    /// May govwatch connect to `ip`, which `host` resolved to (or which is
    /// `host`, written as an address)?
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        let Some(kind) = special(ip) else { return Ok(()) };
        if self.host_is_trusted(host)
            || self.nets.iter().any(|(n, b)| net_contains(*n, *b, ip))
            || self.learned.lock().unwrap_or_else(|e| e.into_inner()).contains(&canonical(ip))
        {
            return Ok(());
        }
        Err(Refused { host: host.to_string(), ip, kind })
    }

    /// The check for a URL whose host is written as an IP address (such
    /// hosts are connected to without asking the resolver). Host names pass
    /// here: the resolver checks what they resolve to.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        self.check(&ip.to_string(), ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_and_special_addresses() {
        for public in
            ["1.1.1.1", "114.114.114.114", "202.96.128.86", "2400:3200::1", "2002:7272:7272::1", "64:ff9b::808:808"]
        {
            assert_eq!(special(ip(public)), None, "{public}");
        }
        let cases = [
            ("127.0.0.1", Special::Loopback),
            ("127.0.0.2", Special::Loopback),
            ("10.0.0.1", Special::Private),
            ("172.16.5.4", Special::Private),
            ("172.31.255.255", Special::Private),
            ("192.168.1.1", Special::Private),
            ("169.254.169.254", Special::LinkLocal),
            ("100.100.100.200", Special::Shared),
            ("0.0.0.0", Special::Unspecified),
            ("224.0.0.1", Special::Multicast),
            ("255.255.255.255", Special::Reserved),
            ("198.18.0.1", Special::Reserved),
            ("::1", Special::Loopback),
            ("::", Special::Unspecified),
            ("::ffff:127.0.0.1", Special::Loopback),
            ("::ffff:10.0.0.1", Special::Private),
            ("::ffff:169.254.169.254", Special::LinkLocal),
            ("::127.0.0.1", Special::Reserved),
            ("64:ff9b::a00:1", Special::Private),
            ("64:ff9b::a9fe:a9fe", Special::LinkLocal),
            ("2002:a00:1::1", Special::Private),
            ("2002:7f00:1::", Special::Loopback),
            ("fd00:ec2::254", Special::UniqueLocal),
            ("fc00::1", Special::UniqueLocal),
            ("fe80::1", Special::LinkLocal),
            ("fec0::1", Special::Private),
            ("ff02::1", Special::Multicast),
            ("2001:db8::1", Special::Documentation),
            ("2001::1", Special::Reserved),
            ("4000::1", Special::Reserved),
        ];
        for (a, want) in cases {
            assert_eq!(special(ip(a)), Some(want), "{a}");
        }
        // Not private: just outside the ranges.
        for a in ["172.32.0.1", "172.15.255.255", "100.128.0.1", "100.63.255.255", "169.253.1.1", "11.0.0.1"] {
            assert_eq!(special(ip(a)), None, "{a}");
        }
    }

    #[test]
    fn own_hosts_and_the_allow_list() {
        let p = AddressPolicy::new(
            ["http://127.0.0.1:8080/col/", "https://OA.County.gov.cn/tzgg/", "config/demo/x.html", "http://[fd12::5]/"],
            &["10.1.0.0/16".into(), "192.168.7.9".into(), "intranet.example".into(), "bogus/99".into()],
        );
        assert_eq!(p.check("127.0.0.1", ip("127.0.0.1")), Ok(()), "a source's own address");
        let r = p.check("127.0.0.2", ip("127.0.0.2")).unwrap_err();
        assert_eq!(r.kind, Special::Loopback);
        assert!(r.to_string().contains("127.0.0.2") && r.to_string().contains("fetch.allow_private"), "{r}");
        assert_eq!(
            p.check("oa.county.gov.cn", ip("10.9.9.9")),
            Ok(()),
            "a source's own host name, whatever it resolves to"
        );
        assert_eq!(p.check("oa.county.gov.cn.", ip("10.9.9.9")), Ok(()));
        assert_eq!(p.check("10.9.9.9", ip("10.9.9.9")).unwrap_err().kind, Special::Private, "not learned yet");
        p.learn(ip("10.9.9.9"));
        assert_eq!(p.check("10.9.9.9", ip("10.9.9.9")), Ok(()), "learned from the source's host name");
        assert_eq!(p.check("x", ip("10.1.200.3")), Ok(()), "in an allowed network");
        assert_eq!(p.check("x", ip("::ffff:10.1.200.3")), Ok(()), "the mapped form too");
        assert!(p.check("x", ip("10.2.0.1")).is_err());
        assert_eq!(p.check("x", ip("192.168.7.9")), Ok(()));
        assert!(p.check("x", ip("192.168.7.10")).is_err());
        assert_eq!(p.check("Intranet.Example", ip("172.20.0.1")), Ok(()));
        assert_eq!(p.check("fd12::5", ip("fd12::5")), Ok(()));
        assert!(p.check("evil.example", ip("169.254.169.254")).is_err());
        assert_eq!(p.check("evil.example", ip("8.8.8.8")), Ok(()));
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(p.check_url(&u("http://169.254.169.254/latest/meta-data/")).is_err());
        assert!(p.check_url(&u("http://[::ffff:a9fe:a9fe]/")).is_err(), "mapped metadata address");
        assert!(p.check_url(&u("http://2130706434/")).is_err(), "127.0.0.2 written as a number");
        assert!(p.check_url(&u("http://0x7f.2/")).is_err(), "127.0.0.2 in hex");
        assert_eq!(p.check_url(&u("http://0x7f.1/")), Ok(()), "the source's own address in another spelling");
        assert_eq!(p.check_url(&u("http://name.example/")), Ok(()), "names are the resolver's to check");
    }

    #[test]
    fn allow_list_entries_are_checked() {
        let bad = check_allow_list(&[
            "10.0.0.0/8".into(),
            "10.0.0.0/33".into(),
            "".into(),
            "http://x/".into(),
            "oa.county.gov.cn".into(),
            "[fd00::]/8".into(),
            "a b".into(),
        ]);
        let idx: Vec<usize> = bad.iter().map(|(i, _)| *i).collect();
        assert_eq!(idx, vec![1, 2, 3, 6], "{bad:?}");
    }
}
