/// Percent-encodes everything except RFC 3986 unreserved characters, so a value is safe in
/// any URL component (user, password, path, query).
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A host name as it goes in a URL authority: IPv6 literals in brackets (`::1` →
/// `[::1]`), names and IPv4 addresses as they are.
pub fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::{percent_encode, url_host};

    #[test]
    fn ipv6_literals_get_brackets_once() {
        assert_eq!(url_host("::1"), "[::1]");
        assert_eq!(url_host("fe80::1%eth0"), "[fe80::1%eth0]");
        assert_eq!(url_host("[::1]"), "[::1]");
        assert_eq!(url_host("127.0.0.1"), "127.0.0.1");
        assert_eq!(url_host("db.example"), "db.example");
    }

    #[test]
    fn reserved_and_non_ascii_bytes_are_encoded() {
        assert_eq!(percent_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(percent_encode("p@ss:w/rd?#%"), "p%40ss%3Aw%2Frd%3F%23%25");
        assert_eq!(percent_encode("é "), "%C3%A9%20");
    }
}
