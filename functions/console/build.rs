//! The console's assets are built by `make console` (infra/scripts/console_build.sh) into
//! console/dist/, which this function embeds; a build without them stops here with that advice.

fn main() {
    // Read when the script runs, not when it is compiled: cargo may reuse a compiled build script
    // for a checkout at another path, and the assets must be looked for in this one.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dist = std::path::Path::new(&manifest).join("../../console/dist");
    for f in [
        "index.html",
        "app.js",
        "app.css",
        "index.html.gz",
        "app.js.gz",
        "app.css.gz",
    ] {
        let path = dist.join(f);
        if !path.exists() {
            panic!(
                "console/dist/{f} is missing: run `make console` (or bash infra/scripts/console_build.sh) first"
            );
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
