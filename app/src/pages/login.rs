//! Sign in. A plain form posted to `/auth/login`, so it works before and without WebAssembly;
//! the server answers with a redirect (back here with `?error=` when it refuses).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).filter(|v| !v.is_empty());
    let message = move || match get("error").as_deref() {
        Some("invalid") => Some("Wrong email or password."),
        Some(_) => Some("Could not sign you in."),
        None => None,
    };
    view! {
        <section class="login">
            <h1>"Sign in"</h1>
            {move || get("signed_out").map(|_| view! { <p class="notice">"You are signed out."</p> })}
            {move || message().map(|m| view! { <div class="error-box" role="alert" data-testid="login-error">{m}</div> })}
            <form method="post" action="/auth/login" class="login-form">
                <input type="hidden" name="next" value=move || get("next").unwrap_or_else(|| "/".into()) />
                <label>
                    "Email" <input type="email" name="email" required autocomplete="username" autofocus />
                </label>
                <label>
                    "Password" <input type="password" name="password" required autocomplete="current-password" />
                </label>
                <button type="submit" class="primary">"Sign in"</button>
            </form>
            <p class="muted">"Accounts are made with " <code>"chartgate users add EMAIL --role … --password-stdin"</code> "; " <code>"chartgate demo"</code> " prints demo accounts."</p>
        </section>
    }
}
