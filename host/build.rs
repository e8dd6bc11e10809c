//! Builds the guest component (`guest/`) for `wasm32-wasip2` with the workspace's `component`
//! profile (size-optimised, fat LTO), in a target directory of its own, so the host embeds it
//! and `cargo build` is the only build step.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ sits in the workspace")
        .to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    for path in ["guest/src", "guest/Cargo.toml", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=ZENDESK_CRM_GUEST_WASM");

    let dest = out_dir.join("zendesk_crm_guest.wasm");
    // A prebuilt component can stand in, for machines without the wasm target.
    if let Some(prebuilt) = env::var_os("ZENDESK_CRM_GUEST_WASM") {
        std::fs::copy(&prebuilt, &dest).unwrap_or_else(|e| {
            panic!("copying ZENDESK_CRM_GUEST_WASM {prebuilt:?}: {e}");
        });
        return;
    }

    check_target_installed();
    let target_dir = out_dir.join("guest-target");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--profile",
            "component",
            "--target",
            "wasm32-wasip2",
            "-p",
            "zendesk-crm-guest",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags (coverage, sanitizers, native CPU) are not for the guest.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status()
        .expect("running cargo to build the guest component");
    assert!(status.success(), "building the guest component failed");
    let built = target_dir.join("wasm32-wasip2/component/zendesk_crm_guest.wasm");
    std::fs::copy(&built, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
}

fn check_target_installed() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned());
    if let Some(sysroot) = sysroot
        && !Path::new(&sysroot)
            .join("lib/rustlib/wasm32-wasip2")
            .exists()
    {
        panic!(
            "the wasm32-wasip2 target is not installed in {sysroot}: run \
             `rustup target add wasm32-wasip2` (scripts/setup does it for you)"
        );
    }
}
