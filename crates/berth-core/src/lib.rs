//! berth's pure domain: no IO, no async. Everything here validates in its constructor, so a
//! value of these types is always well-formed.

pub mod access;
pub mod digest;
pub mod manifest;
pub mod name;
pub mod secret;
pub mod time;

pub use access::{Action, Caller, Grant, Identity, Level, Resource, Scope};
pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use manifest::{Descriptor, ManifestError, ManifestKind, ParsedManifest};
pub use name::{NameError, NamespaceName, Reference, RepoName, Tag, UploadId};
pub use secret::Secret;
