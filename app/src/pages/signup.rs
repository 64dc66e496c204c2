//! Sign up, then log straight in.

use api_types::{LoginRequest, SignupRequest, TokenResponse, UserCreated};
use leptos::prelude::*;

use crate::{api, auth::use_auth};

/// Checks the server would make, said before sending so the user isn't surprised.
pub fn precheck(username: &str, password: &str, confirm: &str) -> Result<(), String> {
    let n = username.chars().count();
    if !(3..=32).contains(&n) {
        return Err("Username must be 3 to 32 characters.".into());
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err("Username may contain only letters, digits, '_', '.' and '-'.".into());
    }
    if password.chars().count() < 12 {
        return Err("Password must be at least 12 characters.".into());
    }
    if password != confirm {
        return Err("The two passwords differ.".into());
    }
    Ok(())
}

#[component]
pub fn SignupPage() -> impl IntoView {
    let a = use_auth();
    let router = crate::router::use_router();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // Logged in already (or just now, by this form): the notes, as the login page does.
    Effect::new(move |_| {
        if matches!(a.status.get(), crate::auth::Status::LoggedIn(_)) {
            router.navigate("/notes", true);
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (u, p, c) = (
            username.get_untracked().trim().to_owned(),
            password.get_untracked(),
            confirm.get_untracked(),
        );
        if let Err(msg) = precheck(&u, &p, &c) {
            error.set(Some(msg));
            return;
        }
        busy.set(true);
        error.set(None);

        leptos::task::spawn_local(async move {
            let created = api::post_public::<_, UserCreated>(
                "/api/auth/signup",
                &SignupRequest {
                    username: u.clone(),
                    password: p.clone(),
                },
            )
            .await;
            match created {
                Ok(_) => {
                    let login = LoginRequest {
                        username: u,
                        password: p,
                        remember: false,
                    };
                    match api::post_public::<_, TokenResponse>("/api/auth/login", &login).await {
                        Ok(t) => a.logged_in(t),
                        Err(e) => error.set(Some(format!(
                            "Account created, but logging in failed: {}",
                            e.message
                        ))),
                    }
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    view! {
        <section class="card narrow">
            <h1>"Create an account"</h1>
            <form on:submit=submit novalidate>
                <label for="signup-username">"Username"</label>
                <input id="signup-username" autocomplete="username" aria-describedby="username-hint" bind:value=username/>
                <p class="hint" id="username-hint">"3–32 characters: letters, digits, _ . -"</p>
                <label for="signup-password">"Password"</label>
                <input id="signup-password" type="password" autocomplete="new-password" aria-describedby="password-hint" bind:value=password/>
                <p class="hint" id="password-hint">"At least 12 characters, not a commonly used password."</p>
                <label for="signup-confirm">"Repeat password"</label>
                <input id="signup-confirm" type="password" autocomplete="new-password" bind:value=confirm/>
                <div class="error" role="alert" aria-live="assertive" data-testid="form-error">{move || error.get()}</div>
                <button type="submit" disabled=move || busy.get()>{move || if busy.get() { "Creating…" } else { "Sign up" }}</button>
            </form>
            <p>"Have an account? " <a href="/login">"Log in"</a></p>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::precheck;

    #[test]
    fn prechecks_match_server_rules() {
        assert!(precheck("alice", "a long password!", "a long password!").is_ok());
        assert!(precheck("al", "a long password!", "a long password!").is_err());
        assert!(precheck("al ice", "a long password!", "a long password!").is_err());
        assert!(precheck("alice", "short", "short").is_err());
        assert!(precheck("alice", "a long password!", "a long password?").is_err());
    }
}
