//! The client's router: which page the address bar names, and moving between pages without a
//! reload.
//!
//! Seven fixed paths do not need a routing library. This one is a signal holding the path and
//! the query, one listener for the back and forward buttons, and one click listener that turns
//! same-origin links into history entries. It replaced leptos_router, whose matching machinery
//! (and the nested view types it instantiates) weighed 28.5 KB brotli of the download: 177.3 ->
//! 148.8 KB (`make size`), against a 150 KB budget.
//!
//! Why a full page load is never needed here, and why that matters for tokens: the access token
//! lives in this program's memory only, so a real navigation would lose it and cost a silent
//! refresh. Every in-app link therefore goes through [`Router::navigate`].

use leptos::prelude::*;

/// The pages, one per path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Notes,
    Sessions,
    Account,
    Admin,
    Inspector,
    Login,
    Signup,
    NotFound,
}

impl Page {
    /// The page at `path` (no query). A trailing slash names the same page.
    pub fn at(path: &str) -> Page {
        let path = match path.strip_suffix('/') {
            Some(p) if !p.is_empty() && !p.ends_with('/') => p,
            _ => path,
        };
        match path {
            "/" | "/notes" => Page::Notes,
            "/sessions" => Page::Sessions,
            "/account" => Page::Account,
            "/admin" => Page::Admin,
            "/inspector" => Page::Inspector,
            "/login" => Page::Login,
            "/signup" => Page::Signup,
            _ => Page::NotFound,
        }
    }

    /// The document's title on this page: what a tab, the history list and a screen reader's
    /// page announcement say.
    pub fn title(self) -> &'static str {
        match self {
            Page::Notes => "Your notes · Cloakroom",
            Page::Sessions => "Sessions · Cloakroom",
            Page::Account => "Account · Cloakroom",
            Page::Admin => "Admin · Cloakroom",
            Page::Inspector => "Token inspector · Cloakroom",
            Page::Login => "Log in · Cloakroom",
            Page::Signup => "Sign up · Cloakroom",
            Page::NotFound => "Page not found · Cloakroom",
        }
    }
}

/// Where this tab is: the path and the query (with its `?`, or empty), as the address bar has
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Here {
    pub path: String,
    pub search: String,
}

/// The router, in context (`Copy`: a signal).
#[derive(Clone, Copy)]
pub struct Router {
    here: RwSignal<Here>,
}

/// The router provided by [`provide`].
pub fn use_router() -> Router {
    // Not `expect_context`, for the reason `auth::use_auth` gives.
    use_context().expect("App provides the router before rendering anything")
}

/// Makes the router for this tab, puts it in context and starts following the address bar.
pub fn provide() -> Router {
    let router = Router {
        here: RwSignal::new(current()),
    };
    provide_context(router);
    // Back and forward: the browser already changed the address; the page follows it, and focus
    // goes to the new content as after a link (not when only the fragment changed: the browser
    // moved focus to the fragment's target itself).
    window_event_listener(leptos::ev::popstate, move |_| {
        let now = current();
        let moved = router.here.with_untracked(|h| *h != now);
        router.here.set(now);
        if moved {
            focus_main();
        }
    });
    router
}

impl Router {
    /// The page the address names (reactive; unchanged by a query change on the same page).
    pub fn page(self) -> Memo<Page> {
        Memo::new(move |_| self.here.with(|h| Page::at(&h.path)))
    }

    /// The current path (reactive).
    pub fn path(self) -> String {
        self.here.with(|h| h.path.clone())
    }

    /// The current path, without subscribing.
    pub fn path_untracked(self) -> String {
        self.here.with_untracked(|h| h.path.clone())
    }

    /// The current path and query (`/notes?x=1`), without subscribing: where to come back to.
    pub fn address_untracked(self) -> String {
        self.here
            .with_untracked(|h| format!("{}{}", h.path, h.search))
    }

    /// A query parameter of the current address, decoded, without subscribing.
    pub fn query_untracked(self, key: &str) -> Option<String> {
        self.here.with_untracked(|h| query_param(&h.search, key))
    }

    /// Goes to `to` (a path on this origin, with an optional query and fragment): a new history
    /// entry, or with `replace` the current one rewritten (a redirect should not leave a step
    /// that the back button bounces off).
    pub fn navigate(self, to: &str, replace: bool) {
        let Some(history) = window().history().ok() else {
            return;
        };
        // The address already shown is not a new step, as in a browser: clicking "Notes" on the
        // notes page three times must not take three Backs to leave.
        let l = window().location();
        let shown = format!(
            "{}{}{}",
            l.pathname().unwrap_or_default(),
            l.search().unwrap_or_default(),
            l.hash().unwrap_or_default()
        );
        let replace = replace || to == shown || l.href().is_ok_and(|h| h == to);
        let done = if replace {
            history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(to))
        } else {
            history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(to))
        };
        if done.is_ok() {
            self.here.set(current());
            window().scroll_to_with_x_and_y(0.0, 0.0);
        }
    }
}

fn current() -> Here {
    let l = window().location();
    Here {
        path: l.pathname().unwrap_or_default(),
        search: l.search().unwrap_or_default(),
    }
}

/// A click on a link to this origin becomes a client-side navigation, with the same exceptions a
/// browser user expects to keep: a modified or non-primary click (new tab, new window,
/// download), a link with a `target`, `download` or `rel="external"`, and a link to a fragment
/// of the page already shown (the browser scrolls and moves focus there itself, which the skip
/// link relies on). Pages the server makes (`/docs/security`) are linked with `rel="external"`.
///
/// `App` attaches this as the `on:click` of the element around everything it renders, so it is
/// one of Leptos' delegated handlers and the last one a click reaches: a component's own
/// handler inside runs first, and its `prevent_default()` (or `stop_propagation()`) is seen
/// here. A listener of our own on the window would run before Leptos' delegated one, which sits
/// on the window too, and could never see it.
pub fn follow_link(router: Router, ev: web_sys::MouseEvent) {
    use wasm_bindgen::JsCast;
    if ev.default_prevented()
        || ev.button() != 0
        || ev.meta_key()
        || ev.alt_key()
        || ev.ctrl_key()
        || ev.shift_key()
    {
        return;
    }
    // The first node of the composed path, not `target`: inside a shadow root the target is
    // retargeted to its host, and the link would not be found.
    let Some(a) = ev
        .composed_path()
        .get(0)
        .dyn_into::<web_sys::Element>()
        .ok()
        .and_then(|el| el.closest("a[href]").ok().flatten())
        .and_then(|el| el.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    else {
        return;
    };
    let external = a
        .get_attribute("rel")
        .is_some_and(|rel| rel.split_ascii_whitespace().any(|r| r == "external"));
    // `target="_self"` names this browsing context: the link stays in the app.
    let target = a.target();
    if !(target.is_empty() || target.eq_ignore_ascii_case("_self"))
        || a.has_attribute("download")
        || external
    {
        return;
    }
    let Ok(origin) = window().location().origin() else {
        return;
    };
    if a.origin() != origin {
        return;
    }
    let (path, search) = (a.pathname(), a.search());
    let same_page = router
        .here
        .with_untracked(|h| h.path == path && h.search == search);
    if same_page && !a.hash().is_empty() {
        return;
    }
    ev.prevent_default();
    // The absolute address: a path beginning `//` rebuilt from its parts would name a host.
    router.navigate(&a.href(), false);
    focus_main();
}

/// Focus where a page load would have put a screen reader: at the start of the new content, not
/// on the link just followed (`<main>` has `tabindex="-1"`; the focus ring shows only for
/// keyboard users).
fn focus_main() {
    use wasm_bindgen::JsCast;
    if let Some(main) = document()
        .get_element_by_id("main")
        .and_then(|m| m.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = main.focus();
    }
}

/// The value of `key` in a query string (`?a=1&b=2`, the `?` optional), percent-decoded, with
/// `+` read as a space; the first occurrence wins. Bytes that do not decode to UTF-8 are
/// replaced, so a crafted query cannot make this fail.
pub fn query_param(search: &str, key: &str) -> Option<String> {
    let search = search.strip_prefix('?').unwrap_or(search);
    search.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == key).then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i + 1..i + 3) {
            Some(&[h, l]) if bytes[i] == b'%' => hex(h).zip(hex(l)),
            _ => None,
        };
        match (bytes[i], escaped) {
            (_, Some((h, l))) => {
                out.push(h << 4 | l);
                i += 2;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_by_path() {
        assert_eq!(Page::at("/"), Page::Notes);
        assert_eq!(Page::at("/notes"), Page::Notes);
        assert_eq!(Page::at("/notes/"), Page::Notes);
        assert_eq!(Page::at("/sessions"), Page::Sessions);
        assert_eq!(Page::at("/account"), Page::Account);
        assert_eq!(Page::at("/admin"), Page::Admin);
        assert_eq!(Page::at("/inspector"), Page::Inspector);
        assert_eq!(Page::at("/login"), Page::Login);
        assert_eq!(Page::at("/signup"), Page::Signup);
        assert_eq!(Page::at("/notes/1"), Page::NotFound);
        assert_eq!(Page::at("/Notes"), Page::NotFound);
        assert_eq!(Page::at("//"), Page::NotFound);
        assert_eq!(Page::at(""), Page::NotFound);
    }

    #[test]
    fn query_params_decode() {
        assert_eq!(
            query_param("?next=%2Fnotes", "next").as_deref(),
            Some("/notes")
        );
        assert_eq!(
            query_param("a=1&next=/x%3Fy%3D1", "next").as_deref(),
            Some("/x?y=1")
        );
        assert_eq!(query_param("?next=a+b", "next").as_deref(), Some("a b"));
        assert_eq!(query_param("?next=1&next=2", "next").as_deref(), Some("1"));
        assert_eq!(query_param("?next", "next").as_deref(), Some(""));
        assert_eq!(query_param("?nex=1", "next"), None);
        assert_eq!(query_param("", "next"), None);
        // Broken escapes stay as they are; invalid UTF-8 becomes U+FFFD, never a failure.
        assert_eq!(query_param("?next=%2", "next").as_deref(), Some("%2"));
        assert_eq!(query_param("?next=%zz%", "next").as_deref(), Some("%zz%"));
        assert_eq!(
            query_param("?next=%ff", "next").as_deref(),
            Some("\u{fffd}")
        );
        // A tab or a backslash decodes, so `safe_next` sees what the browser would follow.
        assert_eq!(
            query_param("?next=/%09/evil", "next").as_deref(),
            Some("/\t/evil")
        );
        assert_eq!(
            query_param("?next=%5Cevil", "next").as_deref(),
            Some("\\evil")
        );
    }
}
