//! `POST /revoke` (RFC 7009).

use axum::response::{IntoResponse, Response};

use super::Caller;
use super::error::no_store;
use super::form::OAuthForm;
use crate::revocation::revoke_request;

pub async fn revoke(caller: Caller, OAuthForm(form): OAuthForm) -> Response {
    let parsed = form.map(|f| (f.presented, f.request.params));
    match revoke_request(&caller.app.revoking(), &caller.request(), parsed).await {
        Ok(()) => {
            let mut res = ().into_response();
            no_store(&mut res);
            res
        }
        Err(denial) => denial.into_response(),
    }
}
