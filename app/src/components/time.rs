//! A moment as people read it: the browser's local date and time, the same on every page, with
//! the exact UTC time on hover (and in `datetime` for machines).

use leptos::prelude::*;

/// `rfc3339` in the browser's local time and format; the text as it came if it is no date.
pub fn local(rfc3339: &str) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(rfc3339));
    if d.get_time().is_nan() {
        return rfc3339.to_owned();
    }
    d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)
        .into()
}

#[component]
pub fn Time(at: String) -> impl IntoView {
    let shown = local(&at);
    let utc = at.replace('T', " ").replace('Z', " UTC");
    view! { <time datetime=at title=utc>{shown}</time> }
}
