//! Builds the guest component (`guest/`) for `wasm32-wasip2` with the workspace's `component`
//! profile (size-optimised, fat LTO), in a target directory of its own, so the host embeds it
//! and `cargo build` is the only build step.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest as _, Sha256};

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
    } else {
        build_guest(&root, &out_dir, &dest);
    }
    version(&root, &dest);
    let linux_gnu = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|libc| libc == "gnu");
    compact_relocations(linux_gnu);
    order_symbols(&manifest_dir, linux_gnu);
}

/// Places the functions a pass runs side by side at the front of the binary's code (the list
/// is `symbol-order.txt`, made by `scripts/symbol-order`). Code is mapped in 64 KiB and
/// larger windows, so a function run once keeps its whole window resident: in the linker's
/// own order the 3.7 MB a pass runs were spread over 11 to 16 MB of the 28 MB of code. A
/// name the build no longer has is skipped, and what the list lacks keeps the linker's order,
/// so a stale list costs memory, never correctness. lld's option: x86-64 Linux, where Rust
/// links with lld.
fn order_symbols(manifest_dir: &Path, linux_gnu: bool) {
    let list = manifest_dir.join("symbol-order.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    let x86_64 = env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "x86_64");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    if release && x86_64 && linux_gnu && list.exists() {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}

/// The binary's relative relocations packed (`DT_RELR`): as plain `.rela.dyn` entries they
/// were 1.7 MB that the loader reads, and so keeps resident, at every start. Needs glibc 2.36
/// (Debian 12, the container's base) and lld or GNU ld 2.38, the linkers Rust uses there.
fn compact_relocations(linux_gnu: bool) {
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// `--version`: the crate version, the commit built (`ZENDESK_CRM_COMMIT` when set, e.g. by a
/// build from a source archive; else `git`; else "unknown", so a build without git or
/// outside a clone still works) and the embedded component's SHA-256.
fn version(root: &Path, component: &Path) {
    println!("cargo:rerun-if-env-changed=ZENDESK_CRM_COMMIT");
    let commit = env::var("ZENDESK_CRM_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| git_commit(root))
        .unwrap_or_else(|| "unknown".to_owned());
    let bytes =
        std::fs::read(component).unwrap_or_else(|e| panic!("reading {}: {e}", component.display()));
    let hash: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!(
        "cargo:rustc-env=ZENDESK_CRM_LONG_VERSION={} (commit {commit}, component sha256:{hash})",
        env::var("CARGO_PKG_VERSION").expect("set by cargo")
    );
}

/// The commit checked out (short hash); none without git
/// or outside a clone. Reruns when HEAD moves.
fn git_commit(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // HEAD, the branch it names and packed refs: what moves on a commit or checkout.
    for name in ["HEAD", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            rerun_if_exists(&root.join(path));
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &branch])
    {
        rerun_if_exists(&root.join(path));
    }
    Some(commit)
}

/// A path cargo watches must exist, or the script would run on every build.
fn rerun_if_exists(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn build_guest(root: &Path, out_dir: &Path, dest: &Path) {
    check_target_installed();
    let target_dir = out_dir.join("guest-target");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
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
    std::fs::copy(&built, dest).unwrap_or_else(|e| panic!("copying {}: {e}", built.display()));
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
