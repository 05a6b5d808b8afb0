//! Release builds of `nomad-agent` lay out the code an agent runs at start and while idle in one
//! stretch of the executable (`symbol-order.txt`, made by `scripts/symbol-order`).
//!
//! Why: the kernel maps the 64 KB around each page of code a process runs (fault-around), and
//! that code was spread over most of the 28 MB of text, so an idle agent had ~16 MiB of its
//! executable resident while it ran ~3 MiB of it. Laid out together, the same code maps a few MiB.
//!
//! Only lld knows `--symbol-ordering-file`. It is rustc's default linker for
//! x86_64-unknown-linux-gnu (rustup's toolchains since 1.90), so the option is given for that
//! target only, and not when the build names a linker of its own (`RUSTC_LINKER`, or `linker`
//! / `fuse-ld` in the rustflags). `NOMAD_NO_SYMBOL_ORDER=1` leaves it out in any case, for a
//! toolchain whose default linker is not lld.
//!
//! Names the build no longer has are skipped, not errors: the layout then only degrades. Names
//! change with rustc and dependency versions, and some (those ending `.llvm.<hash>`) with edits
//! to the code around them, so regenerate the list before measuring or shipping a release;
//! `scripts/symbol-order --check` says how much of it a release build still has.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=NOMAD_NO_SYMBOL_ORDER");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let default_lld = var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let rustflags = var("CARGO_ENCODED_RUSTFLAGS");
    let own_linker = !var("RUSTC_LINKER").is_empty()
        || rustflags.contains("linker")
        || rustflags.contains("fuse-ld");
    let opted_out = !var("NOMAD_NO_SYMBOL_ORDER").is_empty();
    if var("PROFILE") != "release" || !default_lld || own_linker || opted_out {
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
