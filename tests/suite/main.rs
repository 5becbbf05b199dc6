//! Every integration test in one binary, as cargo's own `tests/testsuite`: the support code
//! is built and linked once (not once per file), and one moto server serves the whole run.
//! A file per step or command (`redis.rs` for `deployctl redis`), plus files per concern
//! (`charts.rs`: the real charts; `faults.rs`: interrupts and faults; `stack.rs`: `all` end
//! to end). Run one file's tests with `cargo test --features test-fakes --test suite redis::`.

#[path = "../support/mod.rs"]
mod support;

mod bastion;
mod bedrock;
mod charts;
mod cli;
mod dashboards;
mod diff;
mod export;
mod external_secrets;
mod faults;
mod gatekeeper;
mod helm_real;
mod helm_repos;
mod infra_verify;
mod ingress;
mod interrupt_resume;
mod irsa;
mod jaeger;
mod kube_server;
mod kubeconfig;
mod litellm;
mod litellm_real;
mod manifests;
mod monitoring;
mod namespaces;
mod opa_policies;
mod opa_verify;
mod openwebui;
mod openwebui_db;
mod outdated;
mod prompts;
mod proxy;
mod redis;
mod screens;
mod secret_stores;
mod secrets;
mod stack;
mod terraform;
mod terraform_real;
mod tunnel;
mod uninstall;
mod validate;
mod verify;
