//! CIDR functions (go-cidr semantics) over IPv4 and IPv6. Addresses are u128 bit patterns of
//! width 32 or 128; an IPv4-mapped IPv6 result prints in IPv4 form, as Go's net.IP does.

use super::args::{arity, err, exact, int, int_of, nth, string, R};
use super::FuncError;
use serde_json::Value;
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Clone, Copy)]
struct Net {
    addr: u128,
    prefix: u32,
    bits: u32,
}

/// The low `n` bits set (n may be 128).
fn ones(n: u32) -> u128 {
    if n == 0 {
        0
    } else {
        u128::MAX >> (128 - n.min(128))
    }
}

impl Net {
    fn host_mask(self) -> u128 {
        ones(self.bits - self.prefix)
    }

    fn mask(self) -> u128 {
        ones(self.bits) ^ self.host_mask()
    }

    fn with_prefix(self, prefix: u32) -> Net {
        let n = Net { prefix, ..self };
        Net {
            addr: self.addr & n.mask(),
            ..n
        }
    }
}

fn parse_cidr(text: &str) -> Result<Net, FuncError> {
    let bad = || {
        err(format!(
            "invalid CIDR expression: invalid CIDR address: {text}"
        ))
    };
    let (ip, len) = text.split_once('/').ok_or_else(bad)?;
    let (addr, bits) = if let Ok(v4) = ip.parse::<Ipv4Addr>() {
        (u128::from(u32::from(v4)), 32)
    } else if let Ok(v6) = ip.parse::<Ipv6Addr>() {
        (u128::from(v6), 128)
    } else {
        return Err(bad());
    };
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let prefix = len
        .parse::<u32>()
        .ok()
        .filter(|p| *p <= bits)
        .ok_or_else(bad)?;
    Ok(Net {
        addr,
        prefix: 0,
        bits,
    }
    .with_prefix(prefix))
}

fn ip_text(addr: u128, bits: u32) -> String {
    if bits == 32 {
        return Ipv4Addr::from(addr as u32).to_string();
    }
    let v6 = Ipv6Addr::from(addr);
    v6.to_ipv4_mapped()
        .map_or_else(|| v6.to_string(), |v4| v4.to_string())
}

fn net_text(n: Net) -> String {
    let mapped = n.bits == 128 && Ipv6Addr::from(n.addr).to_ipv4_mapped().is_some();
    let prefix = if mapped {
        n.prefix.saturating_sub(96)
    } else {
        n.prefix
    };
    format!("{}/{prefix}", ip_text(n.addr, n.bits))
}

/// A negative host number counts back from the last address of the prefix.
pub(super) fn cidrhost(a: &[Value]) -> R {
    exact(a, 2)?;
    let net = parse_cidr(&string(a, 0)?)?;
    let hostnum = int(a, 1)?;
    let max = net.host_mask();
    let num = if hostnum >= 0 {
        Some(u128::from(hostnum.unsigned_abs()))
    } else {
        max.checked_sub(u128::from(hostnum.unsigned_abs()) - 1)
    };
    match num.filter(|n| *n <= max) {
        Some(n) => Ok(Value::String(ip_text(net.addr | n, net.bits))),
        None => Err(err(format!(
            "prefix of {} does not accommodate a host numbered {hostnum}",
            net.prefix
        ))),
    }
}

pub(super) fn cidrnetmask(a: &[Value]) -> R {
    exact(a, 1)?;
    let net = parse_cidr(&string(a, 0)?)?;
    Ok(Value::String(if net.bits == 32 {
        Ipv4Addr::from(net.mask() as u32).to_string()
    } else {
        Ipv6Addr::from(net.mask()).to_string()
    }))
}

fn newbits(v: &Value, what: &str) -> Result<u32, FuncError> {
    match int_of(v, what)? {
        n if n > 32 => Err(err("may not extend prefix by more than 32 bits")),
        n => u32::try_from(n).map_err(|_| err(format!("{what} must not be negative"))),
    }
}

pub(super) fn cidrsubnet(a: &[Value]) -> R {
    exact(a, 3)?;
    let net = parse_cidr(&string(a, 0)?)?;
    let extra = newbits(&a[1], &nth(1))?;
    let netnum = u128::try_from(int(a, 2)?).map_err(|_| err("netnum must not be negative"))?;
    let prefix = net.prefix + extra;
    if prefix > net.bits {
        return Err(err(format!(
            "insufficient address space to extend prefix of {} by {extra}",
            net.prefix
        )));
    }
    if netnum > ones(extra) {
        return Err(err(format!(
            "prefix extension of {extra} does not accommodate a subnet numbered {netnum}"
        )));
    }
    let shifted = netnum.checked_shl(net.bits - prefix).unwrap_or(0);
    Ok(Value::String(net_text(Net {
        addr: net.addr | shifted,
        prefix,
        bits: net.bits,
    })))
}

/// Consecutive subnets of the given sizes, each aligned after the previous one (go-cidr's
/// PreviousSubnet/NextSubnet walk).
pub(super) fn cidrsubnets(a: &[Value]) -> R {
    arity(a, 1, None)?;
    let net = parse_cidr(&string(a, 0)?)?;
    let width_mask = ones(net.bits);
    let mut out = Vec::new();
    let mut current: Option<Net> = None;
    for (i, v) in a.iter().enumerate().skip(1) {
        let extra = newbits(v, &nth(i))?;
        if extra < 1 {
            return Err(err(format!(
                "{}: must extend prefix by at least one bit",
                nth(i)
            )));
        }
        let prefix = net.prefix + extra;
        if prefix > net.bits {
            let family = if net.bits == 32 { "IPv4" } else { "IPv6" };
            return Err(err(format!(
                "{}: would extend prefix to {prefix} bits, which is too long for an {family} address",
                nth(i)
            )));
        }
        // The first subnet starts where a subnet "before" the network would end.
        let prev = current.unwrap_or_else(|| {
            Net {
                addr: net.addr.wrapping_sub(1) & width_mask,
                ..net
            }
            .with_prefix(prefix)
        });
        let last = Net {
            addr: prev.addr | prev.host_mask(),
            ..prev
        }
        .with_prefix(prefix);
        let after = (last.addr | last.host_mask()).wrapping_add(1) & width_mask;
        let next = Net {
            addr: after,
            ..last
        }
        .with_prefix(prefix);
        if after == 0 || (next.addr & net.mask()) != net.addr {
            return Err(err(format!(
                "{}: not enough remaining address space for a subnet with a prefix of {prefix} bits after {}",
                nth(i),
                net_text(prev)
            )));
        }
        out.push(Value::String(net_text(next)));
        current = Some(next);
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::jobspec::hcl2::funcs::args::test_call as call;

    #[test]
    fn hosts_and_masks() {
        assert_eq!(
            call(cidrhost, json!(["10.12.112.0/20", 16])),
            Ok(json!("10.12.112.16"))
        );
        assert_eq!(
            call(cidrhost, json!(["10.12.112.0/20", 268])),
            Ok(json!("10.12.113.12"))
        );
        assert_eq!(
            call(cidrhost, json!(["fd00:fd12:3456:7890:00a2::/72", 34])),
            Ok(json!("fd00:fd12:3456:7890::22"))
        );
        assert_eq!(
            call(cidrhost, json!(["192.168.1.0/24", -5])),
            Ok(json!("192.168.1.251"))
        );
        assert_eq!(
            call(cidrhost, json!(["192.168.1.0/24", -256])),
            Ok(json!("192.168.1.0"))
        );
        assert!(call(cidrhost, json!(["192.168.1.0/30", 255])).is_err());
        assert!(call(cidrhost, json!(["192.168.1.0/30", -255])).is_err());
        assert!(call(cidrhost, json!(["not-a-cidr", 6])).is_err());
        assert!(call(cidrhost, json!(["10.256.0.0/8", 6])).is_err());
        assert_eq!(
            call(cidrhost, json!(["::/0", i64::MIN])),
            Ok(json!("ffff:ffff:ffff:ffff:8000::"))
        );
        assert_eq!(
            call(cidrnetmask, json!(["172.16.0.0/12"])),
            Ok(json!("255.240.0.0"))
        );
        assert_eq!(
            call(cidrnetmask, json!(["192.168.1.0/32"])),
            Ok(json!("255.255.255.255"))
        );
        assert_eq!(
            call(cidrnetmask, json!(["0.0.0.0/0"])),
            Ok(json!("0.0.0.0"))
        );
        assert_eq!(
            call(cidrnetmask, json!(["1::/64"])),
            Ok(json!("ffff:ffff:ffff:ffff::"))
        );
        assert!(call(cidrnetmask, json!(["10.0.0.0/33"])).is_err());
        assert!(call(cidrnetmask, json!(["10.0.0.0/+8"])).is_err());
    }

    #[test]
    fn subnets() {
        assert_eq!(
            call(cidrsubnet, json!(["172.16.0.0/12", 4, 2])),
            Ok(json!("172.18.0.0/16"))
        );
        assert_eq!(
            call(cidrsubnet, json!(["10.1.2.0/24", 4, 15])),
            Ok(json!("10.1.2.240/28"))
        );
        assert_eq!(
            call(cidrsubnet, json!(["fd00:fd12:3456:7890::/56", 16, 162])),
            Ok(json!("fd00:fd12:3456:7800:a200::/72"))
        );
        assert_eq!(
            call(cidrsubnet, json!(["192.168.2.0/20", 4, 6])),
            Ok(json!("192.168.6.0/24"))
        );
        assert_eq!(
            call(cidrsubnet, json!(["::ffff:192.168.0.0/112", 8, 6])),
            Ok(json!("192.168.6.0/24"))
        );
        assert_eq!(
            call(cidrsubnet, json!(["0.0.0.0/0", 0, 0])),
            Ok(json!("0.0.0.0/0"))
        );
        assert!(call(cidrsubnet, json!(["192.168.0.0/30", 4, 6])).is_err());
        assert!(call(cidrsubnet, json!(["10.0.0.0/8", 2, 16])).is_err());
        assert!(call(cidrsubnet, json!(["10.0.0.0/8", 33, 0])).is_err());
        assert!(call(cidrsubnet, json!(["10.0.0.0/8", 4, -1])).is_err());
    }

    #[test]
    fn consecutive_subnets() {
        assert_eq!(
            call(cidrsubnets, json!(["10.1.0.0/16", 4, 4, 8, 4])),
            Ok(json!([
                "10.1.0.0/20",
                "10.1.16.0/20",
                "10.1.32.0/24",
                "10.1.48.0/20"
            ]))
        );
        assert_eq!(
            call(
                cidrsubnets,
                json!(["fd00:fd12:3456:7890::/56", 16, 16, 16, 32])
            ),
            Ok(json!([
                "fd00:fd12:3456:7800::/72",
                "fd00:fd12:3456:7800:100::/72",
                "fd00:fd12:3456:7800:200::/72",
                "fd00:fd12:3456:7800:300::/88"
            ]))
        );
        assert_eq!(
            call(
                cidrsubnets,
                json!(["10.0.0.0/21", 3, 3, 3, 4, 4, 4, 7, 7, 7])
            ),
            Ok(json!([
                "10.0.0.0/24",
                "10.0.1.0/24",
                "10.0.2.0/24",
                "10.0.3.0/25",
                "10.0.3.128/25",
                "10.0.4.0/25",
                "10.0.4.128/28",
                "10.0.4.144/28",
                "10.0.4.160/28"
            ]))
        );
        assert_eq!(call(cidrsubnets, json!(["10.0.0.0/8"])), Ok(json!([])));
        assert_eq!(
            call(cidrsubnets, json!(["10.0.0.0/30", 1, 3])),
            Err(err(
                "argument 3: would extend prefix to 33 bits, which is too long for an IPv4 address"
            ))
        );
        assert_eq!(
            call(cidrsubnets, json!(["10.0.0.0/8", 1, 1, 1])),
            Err(err("argument 4: not enough remaining address space for a subnet with a prefix of 9 bits after 10.128.0.0/9"))
        );
        assert!(call(cidrsubnets, json!(["10.0.0.0/8", 1, 0])).is_err());
        assert!(call(cidrsubnets, json!(["fe80::/48", 1, 33])).is_err());
    }
}
