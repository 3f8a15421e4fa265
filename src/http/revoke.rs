//! `POST /revoke` (RFC 7009).

use axum::response::{IntoResponse, Response};

use super::Caller;
use super::error::{Refused, no_store};
use super::form::OAuthForm;
use crate::revocation::revoke_request;

pub async fn revoke(caller: Caller, OAuthForm(form): OAuthForm) -> Response {
    let used_basic = form
        .as_ref()
        .map_or_else(|r| r.used_basic, |f| f.used_basic);
    let parsed = form
        .map(|f| (f.presented, f.request.params))
        .map_err(|r| r.denial);
    match revoke_request(&caller.app.revoking(), &caller.request(), parsed).await {
        Ok(()) => {
            let mut res = ().into_response();
            no_store(&mut res);
            res
        }
        Err(denial) => Refused { denial, used_basic }.into_response(),
    }
}
