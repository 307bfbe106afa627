//! A stand-in for a third-party library that emits metrics only through the
//! `metrics` facade, as most Rust libraries do. It knows nothing of
//! bykilt-metrics; whatever recorder the program installs receives its
//! metrics.
#![forbid(unsafe_code)]

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

/// Name of the request counter (labels `method`, `status`).
pub const REQUESTS: &str = "client_requests_total";
/// Name of the in-flight gauge (no labels).
pub const IN_FLIGHT: &str = "client_requests_in_flight";
/// Name of the latency histogram (label `method`), in seconds.
pub const LATENCY: &str = "client_request_duration_seconds";
/// Name of the response size histogram (label `method`), in bytes.
pub const RESPONSE_BYTES: &str = "client_response_size_bytes";

/// Registers help text and units, as a library does once at start-up.
pub fn describe() {
    describe_counter!(REQUESTS, Unit::Count, "Requests sent, by method and status.");
    describe_gauge!(IN_FLIGHT, "Requests sent and not yet answered.");
    describe_histogram!(LATENCY, Unit::Seconds, "Time from sending a request to its last byte.");
    describe_histogram!(RESPONSE_BYTES, Unit::Bytes, "Size of response bodies.");
}

/// One simulated request: what a client library records around a call.
/// `status` is the HTTP status the simulated server answered with.
pub fn request(method: &'static str, status: u16, seconds: f64, bytes: u64) {
    let in_flight = gauge!(IN_FLIGHT);
    in_flight.increment(1.0);
    let status = status.to_string();
    counter!(REQUESTS, "method" => method, "status" => status).increment(1);
    histogram!(LATENCY, "method" => method).record(seconds);
    histogram!(RESPONSE_BYTES, "method" => method).record(bytes as f64);
    in_flight.decrement(1.0);
}

/// Sets the in-flight gauge to an absolute value (a pool reporting its size).
pub fn set_in_flight(n: f64) {
    gauge!(IN_FLIGHT).set(n);
}
