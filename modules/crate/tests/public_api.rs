//! The crate as another crate sees it.

#[test]
fn checksum_is_stable_and_distinguishes_inputs() {
    assert_eq!(fedcrate::checksum("fedbuild"), fedcrate::checksum("fedbuild"));
    assert_ne!(fedcrate::checksum("fedbuild"), fedcrate::checksum("fedbuilc"));
}

#[test]
fn add_and_slug_work_together() {
    assert_eq!(fedcrate::add(40, 2), 42);
    assert_eq!(fedcrate::slug("Crate Module"), "crate-module");
}
