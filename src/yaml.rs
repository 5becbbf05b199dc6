//! YAML parse errors in the operator's words (shared by the manifest checks and the release
//! pins).

/// The error text without the location serde-saphyr adds itself (we print file:line of the
/// whole file; its own line counts from the document) and without Rust type advice.
pub fn error_message(err: &serde_saphyr::Error) -> String {
    let text = err.to_string();
    user_words(text.lines().next().unwrap_or("invalid YAML"))
}

/// serde-saphyr's message in the operator's words: no "line N column M:" prefix (the caller
/// names file:line), the column kept, and serde's Rust-facing advice replaced.
fn user_words(message: &str) -> String {
    let mut column = None;
    let mut rest = message.strip_prefix("error: ").unwrap_or(message);
    if let Some(after) = rest.strip_prefix("line ")
        && let Some((_, after)) = after.split_once(" column ")
        && let Some((col, after)) = after.split_once(": ")
        && col.chars().all(|c| c.is_ascii_digit())
    {
        column = Some(col.to_string());
        rest = after;
    }
    let mut text = match rest.split_once("; use Option<") {
        Some((head, _)) => head.to_string(),
        None => rest.to_string(),
    };
    if let Some(ty) = text.strip_prefix("cannot deserialize null into ") {
        text = format!("a value is required here (a {ty}), but it is empty");
    }
    match column {
        Some(c) => format!("{text} (column {c})"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_advice_becomes_the_operators_words() {
        assert_eq!(
            user_words(
                "line 49 column 12: cannot deserialize null into string; use Option<String>"
            ),
            "a value is required here (a string), but it is empty (column 12)"
        );
        assert_eq!(user_words("unclosed bracket '['"), "unclosed bracket '['");
        assert_eq!(
            user_words("error: line 2 column 7: unclosed bracket '['"),
            "unclosed bracket '[' (column 7)"
        );
    }
}
