//! Who is on the other end of a request: the peer that opened the connection, and the client
//! behind it when that peer is one of the configured `trusted_proxies`.
//!
//! Only a trusted proxy's word is taken. `X-Forwarded-For` (and the trusted-proxy sign-in header)
//! are plain request headers that anyone who reaches the server can write; read from any peer,
//! they would let a stranger pose as a proxy's user, or spread sign-in attempts over invented
//! addresses to dodge throttling. The session middleware works this out once per request and
//! leaves a [`ClientAddr`] in its extensions for the handlers.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};

use crate::config::Config;

/// The client of a request as far as this server can tell (see [`client_addr`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The address of the connection's peer (from [`ConnectInfo`], which `serve` provides). `None`
/// when the router runs without it, as in-process tests do.
pub fn peer<B>(req: &Request<B>) -> Option<IpAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_canonical())
}

/// The client's address: the peer's, or — when the peer is a trusted proxy — the last address in
/// `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends the address it saw,
/// so the entries to the left of the first untrusted one are the client's own words). No peer
/// known: the unspecified address, one client for everyone.
pub fn client_addr(config: &Config, peer: Option<IpAddr>, headers: &HeaderMap) -> IpAddr {
    let Some(peer) = peer else { return IpAddr::V6(Ipv6Addr::UNSPECIFIED) };
    if !config.is_trusted_proxy(peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for entry in forwarded.into_iter().rev() {
        let Some(addr) = parse_forwarded(entry) else {
            // Not an address: whatever lies left of it cannot be trusted either.
            return peer;
        };
        if !config.is_trusted_proxy(addr) {
            return addr;
        }
    }
    peer
}

/// One `X-Forwarded-For` entry: `203.0.113.5`, `2001:db8::1`, or with a port
/// (`203.0.113.5:4711`, `[2001:db8::1]:4711`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn config(proxies: &[&str]) -> Config {
        Config { trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(), ..Config::default() }
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let c = config(&["10.0.0.0/24", "127.0.0.1"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let h = forwarded(&["198.51.100.1, 203.0.113.5"]);
        // A stranger's header means nothing: the peer is the client.
        assert_eq!(client_addr(&c, Some(ip("192.0.2.9")), &h), ip("192.0.2.9"));
        // From a proxy: the last address that is not a proxy (the first is the client's own word).
        assert_eq!(client_addr(&c, Some(ip("10.0.0.3")), &h), ip("203.0.113.5"));
        let chained = forwarded(&["198.51.100.1", "203.0.113.5, 10.0.0.4"]);
        assert_eq!(client_addr(&c, Some(ip("127.0.0.1")), &chained), ip("203.0.113.5"));
        // Ports and brackets, and IPv4 written as IPv6.
        assert_eq!(client_addr(&c, Some(ip("10.0.0.3")), &forwarded(&["[2001:db8::1]:4711"])), ip("2001:db8::1"));
        assert_eq!(client_addr(&c, Some(ip("::ffff:10.0.0.3")), &forwarded(&["203.0.113.5:80"])), ip("203.0.113.5"));
        // Garbage, or nothing: the proxy itself.
        assert_eq!(client_addr(&c, Some(ip("10.0.0.3")), &forwarded(&["1.2.3.4, junk"])), ip("10.0.0.3"));
        assert_eq!(client_addr(&c, Some(ip("10.0.0.3")), &HeaderMap::new()), ip("10.0.0.3"));
        assert_eq!(client_addr(&c, None, &h), IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    }
}
