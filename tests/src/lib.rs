//! A Zendesk Support API simulator and the helpers the collector's tests share.

pub mod gcs;
pub mod raw_http;
pub mod s3;
pub mod sim;

pub use sim::{
    AccessLinks, EndpointLimit, Fault, INCREMENTAL_EXPORTS, OAuthClientConfig, RateLimits,
    RecordedRequest, ResetFormat, SimConfig, Simulator, TokenRequest,
};
