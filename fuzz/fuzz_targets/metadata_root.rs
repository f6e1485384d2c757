//! `Signed::<Root>::from_bytes`: keeps the input bytes, and the typed value re-encodes to
//! exactly the canonical bytes its signatures cover.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signet_core::{RoleName, Root};

fuzz_target!(|data: &[u8]| {
    signet_fuzz::check_metadata_round_trip::<Root>(RoleName::root(), data);
});
