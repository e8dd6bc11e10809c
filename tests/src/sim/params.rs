//! Query parameters as both endpoints read them, and the 400 answers they share.

use super::wire::SimResponse;

/// The value of a parameter that may appear at most once: Zendesk refuses repeats.
pub(crate) fn single<'q>(
    query: &'q [(String, String)],
    name: &str,
) -> Result<Option<&'q str>, SimResponse> {
    let mut values = query.iter().filter(|(k, _)| k == name);
    let first = values.next().map(|(_, v)| v.as_str());
    match values.next() {
        Some(_) => Err(invalid_value(&format!("{name} given more than once"))),
        None => Ok(first),
    }
}

pub(crate) fn invalid_value(description: &str) -> SimResponse {
    SimResponse::error(400, "InvalidValue", description)
}

pub(crate) fn pagination_error(description: &str) -> SimResponse {
    SimResponse::error(400, "InvalidPaginationParameter", description)
}
