//! The types of parameter: clear text, a clear list, or a secure (encrypted) string.

/// The types of parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ParamType {
    /// Text, stored in the clear; readable without any key.
    String,
    /// Comma-separated text (as SSM's `StringList`), stored in the clear.
    StringList,
    /// Text stored as an ESDK message under the store's key hierarchy (the default).
    #[default]
    SecureString,
}

impl ParamType {
    /// The spelling in the CLI, the store and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::StringList => "string-list",
            Self::SecureString => "secure-string",
        }
    }

    /// Parses the spelling of [`ParamType::as_str`].
    ///
    /// # Errors
    /// An unknown type.
    pub fn parse(s: &str) -> Result<Self, UnknownType> {
        match s {
            "string" => Ok(Self::String),
            "string-list" => Ok(Self::StringList),
            "secure-string" => Ok(Self::SecureString),
            _ => Err(UnknownType(s.to_owned())),
        }
    }

    /// Whether values of this type are encrypted.
    pub fn is_secure(self) -> bool {
        self == Self::SecureString
    }
}

/// A type name that is not one of [`ParamType`]'s (an invalid request, as
/// [`crate::error::Error::Invalid`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown parameter type `{}`: the types are string, string-list and secure-string", .0.escape_debug())]
pub struct UnknownType(pub String);
