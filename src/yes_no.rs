//! A yes/no value as operators write it, read by [`crate::config`] (flags and the
//! environment) and [`crate::config::access`] (`access.yaml`'s variables): one rule, one
//! error.

use crate::error::UserError;

/// Parse a boolean value named `var`: true/false/1/0/yes/no in any case.
pub fn parse_bool(var: &str, value: &str) -> Result<bool, UserError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(UserError::usage(
            format!("invalid value `{value}` for {var}: expected true/false/1/0/yes/no"),
            format!("set {var}=true or {var}=false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_word_is_a_usage_error_naming_the_variable() {
        let e = parse_bool("OPENWEBUI_PASSWORD_LOGIN", "sure").unwrap_err();
        assert_eq!(e.code, crate::error::exit::USAGE);
        assert!(
            e.to_string()
                .contains("`sure` for OPENWEBUI_PASSWORD_LOGIN"),
            "{e}"
        );
        assert!(parse_bool("X", " YES ").unwrap());
    }
}
