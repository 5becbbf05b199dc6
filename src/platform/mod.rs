//! Access to what is outside the process, knowing nothing of the stack: AWS through
//! aws-sdk-rust ([`aws`]), Kubernetes through kube-rs ([`kubeapi`]), helm and terraform as
//! child processes ([`tools`]), the way to a private API ([`tunnel`]), the EKS bearer token
//! ([`eks_auth`]), PostgreSQL sign-in ([`postgres`]) and base64 ([`encoding`]).

pub mod aws;
pub mod eks_auth;
pub mod encoding;
pub mod kubeapi;
pub mod postgres;
pub mod tools;
pub mod tunnel;
