//! A page's fetch of what it shows, and how it is going, shown the same way on every page: a
//! loading line while the fetch runs, the server's readable reason (role="alert") if it failed.

use crate::json::FromJson;
use leptos::prelude::*;

use crate::{
    api::{self, ApiError},
    auth::Auth,
};

/// How a page's fetch is going: pending until it is `done`, or `failed` with a readable reason.
/// Two signals of types the app already uses rather than one of a new enum: every new signal
/// type brings its own copy of the signal machinery into the download.
#[derive(Clone, Copy)]
pub struct Fetch {
    done: RwSignal<bool>,
    failed: RwSignal<Option<String>>,
}

/// Parses an answer's body and stores the value.
type TakeIn = Box<dyn FnOnce(&str) -> Result<(), ApiError>>;

impl Default for Fetch {
    fn default() -> Self {
        Self {
            done: RwSignal::new(false),
            failed: RwSignal::new(None),
        }
    }
}

impl Fetch {
    /// Fetches the JSON at `path` into `into`. Calling it again reloads: what is shown stays up
    /// meanwhile, and only a good answer replaces it.
    pub fn load<T: FromJson + Send + Sync + 'static>(
        self,
        auth: Auth,
        path: &'static str,
        into: RwSignal<T>,
    ) {
        self.run(
            auth,
            path,
            Box::new(move |text| {
                into.set(api::parse(text)?);
                Ok(())
            }),
        );
    }

    /// The request, once for every answer type; only `take_in` knows the type.
    fn run(self, auth: Auth, path: &'static str, take_in: TakeIn) {
        leptos::task::spawn_local(async move {
            match api::get_text(&auth, path).await.and_then(|t| take_in(&t)) {
                Ok(()) => {
                    self.failed.set(None);
                    self.done.set(true);
                }
                Err(e) => self.failed.set(Some(e.message)),
            }
        });
    }

    /// Whether the first answer is still awaited (tracked).
    pub fn pending(self) -> bool {
        !self.done.get() && self.failed.with(Option::is_none)
    }

    /// Whether what is shown is the server's (tracked): an answer came, and the last fetch did
    /// not fail. An empty list means "none" only then.
    pub fn ok(self) -> bool {
        self.done.get() && self.failed.with(Option::is_none)
    }
}

/// Where `fetch` is, next to what it fills: the loading line while it is pending, why it
/// failed if it did. The page renders its content itself, so this is one copy for every page
/// rather than one per content type.
#[component]
pub fn FetchStatus(fetch: Fetch) -> impl IntoView {
    view! {
        // Hidden rather than added and removed: a toggled attribute is the cheaper binding.
        <div hidden=move || !fetch.pending()><Loading label="Loading…"/></div>
        <p class="error" role="alert">{move || fetch.failed.get()}</p>
    }
}

/// A neutral "working on it" line, announced politely to screen readers.
#[component]
pub fn Loading(label: &'static str) -> impl IntoView {
    view! {
        <div class="loading" role="status" aria-live="polite" data-testid="loading">
            <span class="spinner" aria-hidden="true"></span>
            {label}
        </div>
    }
}
