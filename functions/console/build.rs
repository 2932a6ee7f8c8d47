//! The console's assets are built by `make console` (infra/scripts/console_build.sh) into
//! console/dist/, which this function embeds; a build without them stops here with that advice.

fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../console/dist");
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
