//! The live view: `GET /events` streams a gallery tile for every file organized from now on
//! (server-sent events). Each browser gets its own lossy bus observer: a slow or stalled
//! browser misses tiles (it is told how many) and never slows the pipeline.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as Sse, KeepAlive};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use pipeline::Msg;

use crate::App;
use crate::html::tile;

/// Events an observer holds for a browser that is slow to read.
const CAPACITY: usize = 256;

/// `GET /events`.
pub(crate) async fn events(State(app): State<Arc<App>>) -> Response {
    let observer = app.parts.bus.observe(
        bus::Filter::types([events::types::ASSET_ORGANIZED]),
        CAPACITY,
    );
    axum::response::sse::Sse::new(stream(app, observer))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn stream(
    app: Arc<App>,
    observer: bus::Observer<Msg>,
) -> impl Stream<Item = Result<Sse, Infallible>> {
    futures::stream::unfold((app, observer), |(app, mut observer)| async move {
        loop {
            let event = match observer.recv().await? {
                bus::Observed::Lagged(n) => Sse::default().event("lagged").data(n.to_string()),
                bus::Observed::Message(m) => {
                    let Some(id) = m.0.subject.clone() else {
                        continue;
                    };
                    match app.readers.run(move |c| c.asset(&id)).await {
                        Ok(Some(asset)) => Sse::default().event("asset").data(tile(&asset)),
                        _ => continue,
                    }
                }
            };
            return Some((Ok(event), (app, observer)));
        }
    })
}
