//! A route switched from queued to sync: it still delivers what it stored,
//! replayed dead letters included.

use super::{accepted, event_ids, queue_view, queued_config, replay};
use support::*;

/// A queued route whose one event failed, then switched to sync; the
/// downstream answers 200 from then on.
struct Switched {
    app: TestApp,
    downstream: Downstream,
    /// The event's id.
    id: String,
    _store: tempfile::TempDir,
}

/// [`Switched`], the switch made once the event's first attempt failed, or,
/// with `until_dead`, once it is a dead letter.
async fn switched_to_sync(extra: &str, until_dead: bool) -> Switched {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let queued = queued_config(&downstream, &store, extra);
    let app = spawn_app(&queued).await;
    downstream.answer_with(500);
    let id = accepted(&app).await;
    eventually("a failed attempt, or a dead letter", || async {
        match until_dead {
            true => queue_view(&app).await["dead_letters"] == 1,
            false => !downstream.received().is_empty(),
        }
    })
    .await;
    let sync = queued.replace("delivery = \"queued\"", "delivery = \"sync\"");
    std::fs::write(&app.config_path, sync).unwrap();
    eventually("the route is sync", || async {
        queue_view(&app).await["delivery"] == "sync"
    })
    .await;
    downstream.answer_with(200);
    Switched {
        app,
        downstream,
        id,
        _store: store,
    }
}

#[tokio::test]
async fn a_route_switched_from_queued_to_sync_still_delivers_what_it_stored() {
    let Switched {
        app,
        downstream,
        id,
        ..
    } = switched_to_sync("", false).await;

    eventually("the stored event delivered", || async {
        queue_view(&app).await["depth"] == 0
    })
    .await;
    assert_eq!(event_ids(&downstream).last(), Some(&id));
}

#[tokio::test]
async fn a_dead_letter_replayed_on_a_route_now_sync_is_delivered() {
    let retry = "retry = { max_attempts = 1 }";
    let Switched {
        app,
        downstream,
        id,
        ..
    } = switched_to_sync(retry, true).await;

    let replay = replay(&app, &id).await;

    assert_eq!(replay.status(), 200);
    eventually("delivered after the replay", || async {
        queue_view(&app).await["depth"] == 0 && downstream.received().len() == 2
    })
    .await;
    assert_eq!(event_ids(&downstream), [id.clone(), id]);
}
