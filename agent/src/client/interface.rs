//! `client { network_interface = "eth0" }`: the node's address is that interface's IPv4 address
//! rather than the bind address.

use std::ffi::CStr;
use std::net::Ipv4Addr;

/// The first IPv4 address of interface `name`, or why there is none.
pub fn ipv4_of(name: &str) -> Result<Ipv4Addr, String> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(format!(
            "listing network interfaces: {}",
            std::io::Error::last_os_error()
        ));
    }
    let mut found = None;
    let mut seen = false;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let ifa = unsafe { &*cur };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let ifname = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy();
        if ifname == name {
            seen = true;
            if !ifa.ifa_addr.is_null() {
                // SAFETY: ifa_addr points to a sockaddr of the family it declares.
                let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
                if family == libc::AF_INET {
                    // SAFETY: an AF_INET sockaddr is a sockaddr_in.
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                    break;
                }
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    match (found, seen) {
        (Some(ip), _) => Ok(ip),
        (None, true) => Err(format!("network interface {name:?} has no IPv4 address")),
        (None, false) => Err(format!(
            "there is no network interface {name:?} on this host (see `ip link`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_its_address_and_unknown_names_say_so() {
        assert_eq!(ipv4_of("lo"), Ok(Ipv4Addr::LOCALHOST));
        let err = ipv4_of("no-such-if0").unwrap_err();
        assert!(err.contains("no-such-if0"), "{err}");
    }
}
