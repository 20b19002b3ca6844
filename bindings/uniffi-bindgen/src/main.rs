//! `cargo run -p uniffi-bindgen -- generate --library <cdylib> --language <kotlin|swift|python>
//! --out-dir <dir>`: the same uniffi version as the library, so the generated code and the
//! scaffolding always match.

fn main() {
    uniffi::uniffi_bindgen_main()
}
