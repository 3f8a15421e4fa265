//! `POST /token`.

use axum::Json;
use axum::response::{IntoResponse, Response};

use super::Caller;
use super::error::{Refused, no_store};
use super::form::OAuthForm;
use crate::grants;

pub async fn token(caller: Caller, OAuthForm(form): OAuthForm) -> Response {
    let used_basic = form
        .as_ref()
        .map_or_else(|r| r.used_basic, |f| f.used_basic);
    let form = form.map(|f| (f.presented, f.request)).map_err(|r| r.denial);
    match grants::token_recorded(&caller.app.grants(), &caller.request(), form).await {
        Ok(issued) => {
            let mut res = Json(issued).into_response();
            no_store(&mut res);
            res
        }
        Err(denial) => Refused { denial, used_basic }.into_response(),
    }
}
