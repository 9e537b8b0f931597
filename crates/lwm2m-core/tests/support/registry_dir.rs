//! Where the OMA registry (`shared/lwm2m-registry`) is: `$LWM2M_REGISTRY_DIR`,
//! else the first ancestor of this crate holding `shared/lwm2m-registry`
//! (the project's `../shared` in a normal checkout), else `/work/shared`.
//! Missing is a test failure, not a skip: the registry is part of the setup.

use std::path::{Path, PathBuf};

pub fn registry_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LWM2M_REGISTRY_DIR") {
        return PathBuf::from(dir);
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .map(|a| a.join("shared/lwm2m-registry"))
        .chain(std::iter::once(PathBuf::from("/work/shared/lwm2m-registry")))
        .find(|p| p.join("version_history").is_dir())
        .unwrap_or_else(|| {
            panic!(
                "the OMA registry was not found: set LWM2M_REGISTRY_DIR or put it at ../shared/lwm2m-registry"
            )
        })
}
