//! Watches: streaming lists with the initial-events-end bookmark, replay from a
//! resourceVersion, selectors.

use super::*;

pub(super) fn watch(shared: Arc<Shared>, t: Target, q: HashMap<String, String>) -> Response {
    let mut rx = shared.events.subscribe();
    // A streaming list (client-go's WatchList): the current objects as ADDED events, then a
    // BOOKMARK annotated `k8s.io/initial-events-end`, then changes. Without that bookmark the
    // client waits for the end of the list forever (helm --wait hangs).
    let send_initial = q.get("sendInitialEvents").is_some_and(|v| v == "true");
    let from: Option<u64> = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0 && !send_initial);
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(290));
    let matches = {
        let t_group = t.rt.group.clone();
        let t_plural = t.rt.plural.clone();
        let ns = t.namespace.clone();
        let labels = q.get("labelSelector").cloned();
        let fields = q.get("fieldSelector").cloned();
        move |e: &Event| {
            e.group == t_group
                && e.plural == t_plural
                && ns.as_ref().is_none_or(|n| &e.namespace == n)
                && labels.as_ref().is_none_or(|s| labels_match(&e.object, s))
                && fields.as_ref().is_none_or(|s| fields_match(&e.object, s))
        }
    };
    // What happened since `from` (or the current objects, for a watch from "now").
    let (initial, mut last_rv): (Vec<Event>, u64) = {
        let store = shared.store.lock().unwrap();
        let initial = match from {
            Some(rv) => store
                .history
                .iter()
                .filter(|e| e.rv > rv && matches(e))
                .cloned()
                .collect(),
            None => store
                .objects
                .iter()
                .filter(|(k, _)| k.0 == t.rt.group && k.1 == t.rt.plural)
                .map(|(k, v)| Event {
                    rv: store.rv,
                    kind: "ADDED",
                    group: k.0.clone(),
                    plural: k.1.clone(),
                    namespace: k.2.clone(),
                    object: v.clone(),
                })
                .filter(|e| matches(e))
                .collect(),
        };
        (initial, store.rv)
    };
    let bookmark = send_initial.then(|| {
        json!({"type": "BOOKMARK", "object": {
            "apiVersion": t.rt.api_version(), "kind": t.rt.kind,
            "metadata": {"resourceVersion": last_rv.to_string(),
                         "annotations": {"k8s.io/initial-events-end": "true"}}}})
    });
    let stream = async_stream(
        move |tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>| async move {
            for e in initial {
                let line = format!("{}\n", json!({"type": e.kind, "object": e.object}));
                if tx.send(Ok(Bytes::from(line))).await.is_err() {
                    return;
                }
            }
            if let Some(b) = bookmark
                && tx.send(Ok(Bytes::from(format!("{b}\n")))).await.is_err()
            {
                return;
            }
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let next = tokio::time::timeout_at(deadline, rx.recv()).await;
                match next {
                    Err(_) => return,
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                    Ok(Err(_)) => return,
                    Ok(Ok(e)) => {
                        if e.rv <= last_rv || !matches(&e) {
                            continue;
                        }
                        last_rv = last_rv.max(e.rv);
                        let line = format!("{}\n", json!({"type": e.kind, "object": e.object}));
                        if tx.send(Ok(Bytes::from(line))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        },
    );
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(stream)
        .unwrap_or_else(|_| {
            status_error(500, "InternalError", "cannot build watch response".into())
        })
}

/// A streaming body fed by a task.
pub(super) fn async_stream<F, Fut>(f: F) -> Body
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
}
