//! `POST /token`.

use axum::Json;
use axum::response::{IntoResponse, Response};

use super::Caller;
use super::error::{Refused, no_store};
use super::form::OAuthForm;
use crate::audit::Event;
use crate::grants;

pub async fn token(caller: Caller, OAuthForm(form): OAuthForm) -> Response {
    let trail = caller.trail(Event::Token);
    let app = caller.app;
    let form = match form {
        Ok(f) => f,
        Err(refused) => {
            let recorded = grants::record(&app, trail, "granted", Some(&refused.denial)).await;
            return match recorded {
                Err(denial) => Refused { denial, ..refused }.into_response(),
                Ok(()) => refused.into_response(),
            };
        }
    };
    match grants::token_recorded(&app, form.presented, &form.request, trail).await {
        Ok(issued) => {
            let mut res = Json(issued).into_response();
            no_store(&mut res);
            res
        }
        Err(denial) => Refused {
            denial,
            used_basic: form.used_basic,
        }
        .into_response(),
    }
}
