//! Decodes arbitrary bytes as sync messages. Decoding may fail, but must never panic, and a
//! message that decodes must survive an encode/decode round trip unchanged.

#![no_main]

use fieldsync_protocol::wire::{self, SyncRequest, SyncResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = wire::decode::<SyncRequest>(data) {
        let bytes = wire::encode(&request);
        let again = wire::decode::<SyncRequest>(&bytes)
            .expect("a re-encoded sync request decodes");
        assert_eq!(again, request, "a sync request changed in an encode/decode round trip");
    }
    if let Ok(response) = wire::decode::<SyncResponse>(data) {
        let bytes = wire::encode(&response);
        let again = wire::decode::<SyncResponse>(&bytes)
            .expect("a re-encoded sync response decodes");
        assert_eq!(again, response, "a sync response changed in an encode/decode round trip");
    }
});
