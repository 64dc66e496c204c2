//! Entry point: mount the app.

fn main() {
    // Development builds print a panic's message and location to the console. The release
    // build traps at once instead (`-Cpanic=immediate-abort`, Makefile `client`): the message
    // machinery is not worth its bytes in a bundle with a 150 KB budget.
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
