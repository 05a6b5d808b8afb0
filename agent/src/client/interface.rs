//! `client { network_interface = "eth0" }`: the node's address is that interface's IPv4 address
//! rather than the bind address.

use std::ffi::CStr;
use std::net::Ipv4Addr;

/// Why `network_interface` gives the node no address.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    #[error("listing network interfaces: {0}")]
    List(#[source] std::io::Error),
    #[error("network interface {0:?} has no IPv4 address")]
    NoIpv4(String),
    #[error("there is no network interface {0:?} on this host (see `ip link`)")]
    NoSuchInterface(String),
}

/// The first IPv4 address of interface `name`, or why there is none.
pub fn ipv4_of(name: &str) -> Result<Ipv4Addr, InterfaceError> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(InterfaceError::List(std::io::Error::last_os_error()));
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
        (None, true) => Err(InterfaceError::NoIpv4(name.to_string())),
        (None, false) => Err(InterfaceError::NoSuchInterface(name.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_has_its_address_and_unknown_names_say_so() {
        assert_eq!(ipv4_of("lo").unwrap(), Ipv4Addr::LOCALHOST);
        let err = ipv4_of("no-such-if0").unwrap_err().to_string();
        assert!(err.contains("no-such-if0"), "{err}");
    }
}
