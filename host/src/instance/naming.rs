//! Instance and volume names.

/// Container names Docker accepts, kept short enough for volume names derived from them.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let ok = name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        anyhow::bail!(
            "invalid --name '{}': use letters, digits, '_', '.', '-' (up to 64, starting with a letter or digit)",
            name.escape_debug()
        )
    }
}

/// A fresh name like `dbarena-postgres-16-a3f9`.
pub fn generate_name(engine: &str, version: &str) -> String {
    let suffix: u16 = rand::random();
    let version: String = version
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("dbarena-{engine}-{version}-{suffix:04x}")
}

/// The named volume that holds data path number `index` of instance `name`.
pub fn volume_name(name: &str, index: usize) -> String {
    if index == 0 {
        format!("{name}-data")
    } else {
        format!("{name}-data-{index}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid_and_distinct() {
        let a = generate_name("postgres", "16");
        assert!(
            a.starts_with("dbarena-postgres-16-") && a.len() == "dbarena-postgres-16-".len() + 4,
            "{a}"
        );
        validate_name(&a).unwrap();
        assert!(validate_name("-bad").is_err());
        assert!(validate_name("bad name").is_err());
        assert_eq!(generate_name("mysql", "8.4").split('-').nth(2), Some("8"));
        assert_eq!(volume_name("a", 0), "a-data");
        assert_eq!(volume_name("a", 2), "a-data-2");
    }
}
