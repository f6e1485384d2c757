//! The client's file formats read from disk or from other machines: change files (notary's
//! changelist), their delegation and root-role payloads, and k-of-n bundles. None may
//! panic; what parses must write back to bytes that parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_client::bundle::Bundle;
use signet_client::changelist::{Change, DelegationData, RootRoleData};

fuzz_target!(|data: &[u8]| {
    if let Ok(change) = serde_json::from_slice::<Change>(data) {
        let again: Change =
            serde_json::from_slice(&change.to_bytes()).expect("a written change parses");
        assert_eq!(again, change);
    }
    if let Ok(d) = DelegationData::from_bytes(data) {
        let again = DelegationData::from_bytes(&d.to_bytes()).expect("written payload parses");
        assert_eq!(again, d);
    }
    if let Ok(r) = RootRoleData::from_bytes(data) {
        let again = RootRoleData::from_bytes(&r.to_bytes()).expect("written payload parses");
        assert_eq!(again, r);
    }
    if let Ok(b) = Bundle::from_bytes(data) {
        let again = Bundle::from_bytes(&b.to_bytes()).expect("a written bundle parses");
        assert_eq!(again.gun, b.gun);
        assert_eq!(again.files.len(), b.files.len());
    }
});
