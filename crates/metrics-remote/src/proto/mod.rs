//! Protobuf messages, written by hand from the published `.proto` files so
//! that the build needs no `protoc`: only the fields this crate sends are
//! declared (a decoder skips the rest, as protobuf allows).

pub mod otlp;
pub mod prw;
