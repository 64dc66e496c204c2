//! Entry point: mount the app.

fn main() {
    // A panic's message and location go to the browser console, in release builds too: with
    // `panic = "abort"` (the `wasm-release` profile) the hook still runs before the trap.
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
