//! Entry point: mount the app.

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    // SAFETY: the app is built without wasm threads: one thread ever allocates.
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

fn main() {
    // A panic's message and location go to the browser console, in release builds too: with
    // `panic = "abort"` (the `wasm-release` profile) the hook still runs before the trap. A
    // one-line hook instead of console_error_panic_hook, which also captures a JS stack: 1.1 KB
    // brotli for a trace the location already gives (measured 2026-12-05).
    std::panic::set_hook(Box::new(|info| {
        let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
        let message = info.payload_as_str().unwrap_or("?");
        web_sys::console::error_4(
            &"panic at".into(),
            &file.into(),
            &line.into(),
            &message.into(),
        )
    }));
    leptos::mount::mount_to_body(app::App);
}
