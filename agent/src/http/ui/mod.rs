//! The web UI at `/ui/`: server-rendered pages, embedded in the binary with a little plain
//! JavaScript, and no JavaScript toolchain.
//!
//! The browser loads one shell page (`shell.html`) for every `/ui/...` address. Its script
//! fetches the page's fragment from `/ui/f/...` with the token kept in local storage as
//! `X-Nomad-Token`, and swaps it in. Fragments are rendered here with minijinja from the `/v1`
//! API's own answers (api.rs), so they show what the token may see and say "not allowed"
//! where a policy denies. Pages follow the cluster live: the script reads the event stream and
//! fetches the fragment again after a change, replacing only the parts marked `data-live`.

mod api;
mod pages;
mod run;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::Environment;
use std::sync::OnceLock;

const SHELL: &str = include_str!("templates/shell.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The templates, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("jobs.html", include_str!("templates/jobs.html")),
    ("job.html", include_str!("templates/job.html")),
    ("alloc.html", include_str!("templates/alloc.html")),
    ("nodes.html", include_str!("templates/nodes.html")),
    ("node.html", include_str!("templates/node.html")),
    ("servers.html", include_str!("templates/servers.html")),
    ("services.html", include_str!("templates/services.html")),
    ("run.html", include_str!("templates/run.html")),
    ("plan.html", include_str!("templates/plan.html")),
    ("denied.html", include_str!("templates/denied.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // API answers leave out empty fields: a missing one reads as empty, at any depth.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        for (name, src) in TEMPLATES {
            // Compiled into the binary and checked by the tests: a broken one is a build bug.
            #[allow(clippy::expect_used)]
            env.add_template(name, src)
                .expect("a UI template does not parse");
        }
        env.add_filter("short", |s: String| s.chars().take(8).collect::<String>());
        env.add_filter("ago", pages::ago);
        env.add_filter("mib", |b: minijinja::Value| {
            let b = f64::try_from(b).unwrap_or(0.0);
            format!("{:.1} MiB", b / 1048576.0)
        });
        env
    })
}

/// Renders `name` with `ctx`; a template error is a 500 that names it.
fn render(name: &str, ctx: minijinja::Value) -> Response {
    let out = env().get_template(name).and_then(|t| t.render(ctx));
    match out {
        Ok(html) => html_response(StatusCode::OK, html),
        Err(e) => html_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "<p class=error>rendering {name}: {}</p>",
                minijinja::HtmlEscape(&e.to_string())
            ),
        ),
    }
}

fn html_response(status: StatusCode, html: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// The UI's routes. `api` is the whole `/v1` router, guard and forwarding included: each
/// handler gets it as an [`Api`] carrying the caller's token.
pub fn router(api: Router) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/ui/") }))
        .route("/ui", get(|| async { Redirect::temporary("/ui/") }))
        .route(
            "/ui/assets/app.js",
            get(|| async { asset("text/javascript", APP_JS) }),
        )
        .route(
            "/ui/assets/app.css",
            get(|| async { asset("text/css", APP_CSS) }),
        )
        .route("/ui/f/plan", post(run::plan))
        .route("/ui/f/register", post(run::register))
        .route("/ui/f", get(pages::fragment))
        .route("/ui/f/", get(pages::fragment))
        .route("/ui/f/{*page}", get(pages::fragment))
        .route("/ui/", get(shell))
        .route("/ui/{*page}", get(shell))
        .with_state(api)
}

async fn shell() -> Response {
    html_response(StatusCode::OK, SHELL.to_string())
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
