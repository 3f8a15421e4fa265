//! `POST /token`.

use axum::Json;
use axum::response::{IntoResponse, Response};

use super::Caller;
use super::error::no_store;
use super::form::OAuthForm;
use crate::grants;

pub async fn token(caller: Caller, OAuthForm(form): OAuthForm) -> Response {
    let form = form.map(|f| (f.presented, f.request));
    match grants::token_recorded(&caller.app.grants(), &caller.request(), form).await {
        Ok(issued) => {
            let mut res = Json(issued).into_response();
            no_store(&mut res);
            res
        }
        Err(denial) => denial.into_response(),
    }
}
