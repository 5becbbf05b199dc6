//! Commands that are not steps of the graph.

pub mod charts;
pub mod uninstall;
