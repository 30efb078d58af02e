//! The post-processing crate's error: only the sandbox can fail (the text stages are total
//! functions that report what they found instead).

/// Why a sandbox run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sandbox could not run (interpreter missing, temp dir not writable, …).
    #[error("sandbox: {0}")]
    Sandbox(String),
}

/// Shorthand for this crate.
pub type Result<T> = std::result::Result<T, Error>;
