//! Redis: optional, shared by replicas (replay cache, revocation fan-out,
//! global rate limits). A `ConnectionManager` reconnects by itself.

use std::fmt;

use redis::aio::ConnectionManager;

use super::{CONNECT_TIMEOUT, StoreError, describe_url};
use crate::config::SecretString;

#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    target: String,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.target)
            .finish()
    }
}

impl RedisStore {
    pub async fn connect(url: &SecretString) -> Result<Self, StoreError> {
        let target = describe_url(url.expose());
        let connect_error = |cause: String| StoreError::Connect {
            target: target.clone(),
            cause,
        };
        let client = redis::Client::open(url.expose()).map_err(|e| connect_error(e.to_string()))?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, ConnectionManager::new(client.clone()))
            .await
            .map_err(|_| connect_error(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())))?
            .map_err(|e| connect_error(e.to_string()))?;
        let store = Self {
            client,
            conn,
            target,
        };
        store.ping().await?;
        Ok(store)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let pong = tokio::time::timeout(
            CONNECT_TIMEOUT,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await
        .map_err(|_| StoreError::Redis("PING timed out".into()))?
        .map_err(|e| StoreError::Redis(e.to_string()))?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Redis(format!(
                "unexpected PING answer {pong:?}"
            )))
        }
    }

    /// `SET key 1 NX EXAT expires_at`: true if the key was not there.
    pub async fn set_once(&self, key: &str, expires_at: i64) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let answer: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("NX")
            .arg("EXAT")
            .arg(expires_at)
            .query_async(&mut conn)
            .await
            .map_err(|e| StoreError::Redis(e.to_string()))?;
        Ok(answer.is_some())
    }

    pub async fn publish(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Redis(e.to_string()))
    }

    /// Deliver every message on `channel` to `on_message` until the
    /// connection drops; the caller reconnects.
    pub async fn subscribe(
        &self,
        channel: &str,
        mut on_message: impl FnMut(String),
    ) -> Result<(), StoreError> {
        use futures_util::StreamExt;
        let mut pubsub = self
            .client
            .get_async_pubsub()
            .await
            .map_err(|e| StoreError::Redis(e.to_string()))?;
        pubsub
            .subscribe(channel)
            .await
            .map_err(|e| StoreError::Redis(e.to_string()))?;
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            if let Ok(payload) = msg.get_payload::<String>() {
                on_message(payload);
            }
        }
        Err(StoreError::Redis("the subscription ended".into()))
    }
}
