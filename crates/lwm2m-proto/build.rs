//! Compiles every `.proto` under `<workspace>/proto` into prost messages and
//! tonic clients/servers, plus a file descriptor set for gRPC reflection.
//!
//! protoc comes from `protoc-bin-vendored`, so building needs no system
//! protoc and every machine uses the same protoc version.

use std::io;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    println!("cargo:rerun-if-changed={}", proto_root.display());
    let mut protos = Vec::new();
    collect_protos(&proto_root, &mut protos)?;
    protos.sort();
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    // Build scripts run single-threaded before the crate compiles, so setting
    // the variable here only affects the protoc lookup below.
    std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?);

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .file_descriptor_set_path(out_dir.join("lwm2m_descriptor.bin"))
        .compile_protos(&protos, &[proto_root])?;
    Ok(())
}

/// Finds `.proto` files recursively; directories are watched too so a new
/// file triggers a rebuild.
fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
