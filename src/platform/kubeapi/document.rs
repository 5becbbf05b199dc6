//! A Kubernetes object as YAML gave it: the value with where it came from (file and line),
//! for messages that point at the operator's file. `stack::manifest` reads them from the
//! repository; `apply` applies, deletes and compares them.

use serde_json::Value;
use std::path::PathBuf;

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    pub path: PathBuf,
    /// 1-based line of the document's first line.
    pub line: usize,
    pub text: String,
    pub value: Value,
}

impl Document {
    /// A document made in code (not read from a file): `path` says what it is in messages.
    pub fn from_value(path: PathBuf, value: Value) -> Document {
        Document {
            path,
            line: 1,
            text: String::new(),
            value,
        }
    }

    pub fn str_at(&self, pointer: &str) -> Option<&str> {
        self.value.pointer(pointer).and_then(Value::as_str)
    }
    pub fn api_version(&self) -> &str {
        self.str_at("/apiVersion").unwrap_or_default()
    }
    pub fn kind(&self) -> &str {
        self.str_at("/kind").unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.str_at("/metadata/name").unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<&str> {
        self.str_at("/metadata/namespace")
    }
}
