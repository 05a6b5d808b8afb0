//! Release builds of `nomad-agent` lay out the code an agent runs at start and while idle in one
//! stretch of the executable (`symbol-order.txt`, made by `scripts/symbol-order`).
//!
//! Why: the kernel maps the 64 KB around each page of code a process runs (fault-around), and
//! that code was spread over most of the 28 MB of text, so an idle agent had ~16 MiB of its
//! executable resident while it ran ~3 MiB of it. Grouped, the same code maps a few MiB.
//!
//! Only lld knows `--symbol-ordering-file`; it is the default linker of rustc's
//! x86_64-unknown-linux-gnu target, so the option is given for that target only. Names the build
//! no longer has (a dependency or rustc changed) are skipped, not errors: the layout then only
//! degrades, and `scripts/symbol-order --check` says by how much.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let lld_target = var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if var("PROFILE") != "release" || !lld_target {
        return;
    }
    let order = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    if order.exists() {
        println!(
            "cargo:rustc-link-arg-bin=nomad-agent=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=nomad-agent=-Wl,--no-warn-symbol-ordering");
    }
}
