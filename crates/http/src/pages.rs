//! Server-rendered pages.
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::Html;

use crate::server::Shared;

/// The page routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
}

/// The home page.
pub async fn home(State(_shared): State<Arc<Shared>>) -> Html<String> {
    Html(String::from("<h1>Numerus</h1>"))
}
