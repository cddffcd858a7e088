//! Secrets kept as files in a data directory (the dataset id key, the URL signing key,
//! participants' API keys): written readable by their owner only, keys as 64 hex digits.

use std::fs;
use std::path::Path;

use anyhow::Context;

/// A 32-byte key written as 64 hex digits (surrounding whitespace allowed).
pub fn read_hex_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    hex::decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .with_context(|| format!("{} must hold 64 hex digits", path.display()))
}

/// Writes `text` to `path` (creating its directory), readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
