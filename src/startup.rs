//! Building and running the server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::{App, AppState};
use crate::cluster::{Cluster, Relay};
use crate::config::{DatabaseConfig, DispatcherConfig, ServerConfig};
use crate::events::EventBus;
use crate::graphql;
use crate::http::HttpState;
use crate::progress::ProgressHub;

/// Connects to the database, migrates it and builds the shared state.
pub async fn prepare(
    database: &DatabaseConfig,
    config: ServerConfig,
    dispatch: DispatcherConfig,
) -> anyhow::Result<AppState> {
    let db = crate::db::connect(database).await?;
    crate::db::migrate(&db).await?;
    let relay = Relay::default();
    Ok(AppState(Arc::new(App {
        db,
        events: EventBus::new(relay.clone()),
        progress: ProgressHub::new(relay),
        config,
        dispatch,
        dispatcher_wake: Default::default(),
        public_url: Default::default(),
        ingestor: Default::default(),
        channels: Default::default(),
    })))
}

/// A bound server, not yet serving. Binding `127.0.0.1:0` picks a free port (tests).
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    app: AppState,
}

impl Application {
    pub async fn build(app: AppState) -> anyhow::Result<Self> {
        // Install the metrics recorder before the first request is counted.
        crate::metrics::handle();
        let listener = TcpListener::bind(app.config.bind)
            .await
            .with_context(|| format!("could not listen on {}", app.config.bind))?;
        let bound = listener.local_addr().context("the listener has no address")?;
        let public_url = match &app.config.public_url {
            Some(url) => url.trim().trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        };
        let _ = app.public_url.set(public_url);
        let schema = graphql::build_schema(app.clone(), &app.config);
        let router = crate::router::router(HttpState { app: app.clone(), schema });
        Ok(Application { listener, router, app })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Serves the API and runs the dispatcher until `shutdown` completes; then the server
    /// lets requests in flight finish and the dispatcher stops claiming, hands back what it
    /// claimed but did not send and waits for the sends in flight, for at most the configured
    /// grace period.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let grace = self.app.config.shutdown_grace();
        let (stopping, stopped) = tokio::sync::watch::channel(false);
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections or claims, finishing what is in flight");
            let _ = stopping.send(true);
        };
        let when_stopping = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stopping| *stopping).await;
        };
        // TCP_NODELAY: a subscription writes small frames one after another, and with Nagle's
        // algorithm each waited for the client's delayed ACK (up to 40 ms).
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |stream: &mut tokio::net::TcpStream| {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, "could not set TCP_NODELAY on a connection");
            }
        });
        let server = axum::serve(listener, self.router).with_graceful_shutdown(signal);
        let cluster = Cluster::start(&self.app);
        let dispatcher = {
            let (app, stop) = (self.app.clone(), when_stopping(stopped.clone()));
            async move {
                if app.dispatch.enabled {
                    crate::dispatcher::Dispatcher::new(app).run(stop).await;
                } else {
                    tracing::info!("dispatching is off on this instance (PREGON_DISPATCH=false)");
                }
            }
        };
        let deadline = async move {
            when_stopping(stopped).await;
            tokio::time::sleep(grace).await;
        };
        let both = async move {
            let (served, ()) = tokio::join!(server, dispatcher);
            // The last outcomes' notes go out before the relay stops.
            if let Some(cluster) = cluster {
                cluster.stop().await;
            }
            served.context("the HTTP server failed")
        };
        tokio::select! {
            result = both => result,
            () = deadline => {
                tracing::warn!(grace_secs = grace.as_secs(), "still busy after the grace period; stopping anyway");
                Ok(())
            }
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
///
/// The handlers are registered when this is called, not when the future is first polled:
/// call it before announcing that the server is up, so that a signal sent right after the
/// announcement still shuts it down gracefully.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let wait = |registered: std::io::Result<tokio::signal::unix::Signal>, name: &'static str| async move {
                match registered {
                    Ok(mut signal) => {
                        signal.recv().await;
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "cannot listen for {name}");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                () = wait(interrupt, "SIGINT") => tracing::info!("received SIGINT"),
                () = wait(terminate, "SIGTERM") => tracing::info!("received SIGTERM"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("received Ctrl-C");
        }
    }
}
