//! The stack as deployctl knows it, from the project's files: the releases ([`releases`]: their pins and
//! what each needs and gets), the IRSA roles ([`roles`]), the
//! secrets' names ([`secret_names`]), the database URL rules ([`database_url`]), the
//! Bedrock models ([`bedrock`]), the EKS calendar ([`eks_versions`]), the entry point's
//! Ingresses ([`entry_point`]), the manifests ([`manifest`]), charts on disk ([`charts`])
//! and the rendering with the real helm ([`render`]). It sits above [`crate::platform`]:
//! a fact that must be checked against AWS (a model offered in the region) asks through it.

pub mod bedrock;
pub mod charts;
pub mod database_url;
pub mod eks_versions;
pub mod entry_point;
pub mod manifest;
pub mod releases;
pub mod render;
pub mod roles;
pub mod secret_names;
