//! Durations in JSON output: seconds as a number, which the windows and scripts
//! use as is (serde's own form, `{secs, nanos}`, is for Rust to read back).

use std::time::Duration;

use serde::Serializer;

pub fn secs<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}
