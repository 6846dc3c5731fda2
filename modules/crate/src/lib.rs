//! fedcrate: small helpers shared in spirit with clib's `fedmath`.
//!
//! [`checksum`] is the 32-bit FNV-1a hash, bit for bit what `fm_checksum`
//! returns, so the Rust and C modules can be checked against each other.

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// The 32-bit FNV-1a hash of `text`'s bytes (same as C `fm_checksum`).
pub fn checksum(text: &str) -> u32 {
    text.bytes()
        .fold(FNV_OFFSET, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(FNV_PRIME))
}

/// `a + b`, wrapping on overflow like C `fm_add`.
pub fn add(a: i32, b: i32) -> i32 {
    a.wrapping_add(b)
}

/// A module name turned into a URL slug: lower case, runs of other characters become `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_fnv1a_vectors() {
        assert_eq!(checksum(""), 0x811c_9dc5);
        assert_eq!(checksum("a"), 0xe40c_292c);
        assert_eq!(checksum("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn add_wraps() {
        assert_eq!(add(2, 3), 5);
        assert_eq!(add(i32::MAX, 1), i32::MIN);
    }

    #[test]
    fn slug_collapses_separators() {
        assert_eq!(slug("Fed Build -- Docs!"), "fed-build-docs");
        assert_eq!(slug("  "), "");
    }
}
