//! Which keys the component may write. The guest builds keys, but the host does not trust
//! them: a key must be relative, stay under the object prefix, and never touch the checkpoint.

/// Longest key S3 accepts.
pub const MAX_KEY_BYTES: usize = 1024;

/// `S3_PREFIX` normalised to end in exactly one `/`; empty stays empty (same rule as the
/// guest, so both agree on where objects go).
pub fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

#[derive(Debug, Clone)]
pub struct KeyPolicy {
    prefix: String,
    state_key: String,
}

impl KeyPolicy {
    pub fn new(prefix: &str, state_key: &str) -> KeyPolicy {
        KeyPolicy {
            prefix: normalize_prefix(prefix),
            state_key: state_key.to_owned(),
        }
    }

    /// Ok when `key` may be written as a page object; otherwise why not.
    pub fn check_object_key(&self, key: &str) -> Result<(), String> {
        if key.len() > MAX_KEY_BYTES {
            return Err(format!("longer than {MAX_KEY_BYTES} bytes"));
        }
        if key.contains('\0') {
            return Err("contains NUL".into());
        }
        check_relative(key)?;
        if !key.starts_with(&self.prefix) {
            return Err(format!("{key:?} is outside the prefix {:?}", self.prefix));
        }
        if key == self.state_key {
            return Err(format!("{key:?} is the checkpoint's key"));
        }
        Ok(())
    }
}

/// A relative key of plain components: no leading `/`, no `.`/`..`, no empty component, no
/// backslash (a separator on some filesystems), no control characters.
pub fn check_relative(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty".into());
    }
    if key.starts_with('/') {
        return Err(format!("{key:?} is absolute"));
    }
    if key.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(format!("{key:?} contains a backslash or control character"));
    }
    if key
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!("{key:?} has an empty, `.` or `..` component"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_keys_are_refused() {
        let p = KeyPolicy::new("zendesk/crm", "zendesk/crm/state.json");
        assert!(
            p.check_object_key("zendesk/crm/2025/01/02/030405-ab-zendesk-x.json")
                .is_ok()
        );
        for bad in [
            "/etc/passwd",
            "zendesk/crm/../../etc/passwd",
            "zendesk/crm/./a",
            "zendesk/crm//a",
            "zendesk/crm/a\0b",
            "zendesk/crm/a\\b",
            "other/a.json",
            "zendesk/crm/state.json",
            "zendesk/crmx/a.json",
            "",
        ] {
            assert!(p.check_object_key(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("zendesk/crm/{}", "a".repeat(MAX_KEY_BYTES));
        assert!(p.check_object_key(&long).is_err());
    }

    #[test]
    fn empty_prefix_allows_any_relative_key() {
        let p = KeyPolicy::new("", "state.json");
        assert!(p.check_object_key("2025/a.json").is_ok());
        assert!(p.check_object_key("state.json").is_err());
    }
}
