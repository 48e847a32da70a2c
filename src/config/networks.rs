//! `allow_ips` and `trusted_proxies`: lists of addresses and CIDR networks.

use ipnet::IpNet;

/// `list` as networks; a bare address is a network of one.
pub fn networks(list: &[String]) -> Result<Vec<IpNet>, String> {
    if list.is_empty() {
        return Err("lists no address; remove the key to allow every address".into());
    }
    list.iter().map(|text| network(text)).collect()
}

fn network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not an IP address or a CIDR network"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn addresses_and_networks_of_both_families_are_taken() {
        let taken = networks(&list(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"])).unwrap();
        assert_eq!(taken.len(), 4);
        assert!(taken[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(taken[1].prefix_len(), 32);
    }

    #[test]
    fn a_malformed_entry_and_an_empty_list_are_refused() {
        let error = networks(&list(&["10.0.0.0/33"])).unwrap_err();
        assert!(
            error.contains("`10.0.0.0/33` is not an IP address"),
            "{error}"
        );
        assert!(networks(&[]).unwrap_err().contains("lists no address"));
    }
}
