//! A route switched from queued to sync: it still delivers what it stored,
//! replayed dead letters included.

use super::{TOKEN, accepted, event_ids, queue_view, queued_config};
use support::*;

#[tokio::test]
async fn a_route_switched_from_queued_to_sync_still_delivers_what_it_stored() {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let queued = queued_config(&downstream, &store, "");
    let app = spawn_app(&queued).await;
    downstream.answer_with(500);
    let id = accepted(&app).await;
    eventually("a failed attempt", || async {
        !downstream.received().is_empty()
    })
    .await;

    let sync = queued.replace("delivery = \"queued\"", "delivery = \"sync\"");
    std::fs::write(&app.config_path, sync).unwrap();
    eventually("the route is sync", || async {
        queue_view(&app).await["delivery"] == "sync"
    })
    .await;
    downstream.answer_with(200);

    eventually("the stored event delivered", || async {
        queue_view(&app).await["depth"] == 0
    })
    .await;
    assert_eq!(event_ids(&downstream).last(), Some(&id));
}

#[tokio::test]
async fn a_dead_letter_replayed_on_a_route_now_sync_is_delivered() {
    let downstream = Downstream::start().await;
    let store = tempfile::tempdir().unwrap();
    let queued = queued_config(&downstream, &store, "retry = { max_attempts = 1 }");
    let app = spawn_app(&queued).await;
    downstream.answer_with(500);
    let id = accepted(&app).await;
    eventually("a dead letter", || async {
        queue_view(&app).await["dead_letters"] == 1
    })
    .await;
    let sync = queued.replace("delivery = \"queued\"", "delivery = \"sync\"");
    std::fs::write(&app.config_path, sync).unwrap();
    eventually("the route is sync", || async {
        queue_view(&app).await["delivery"] == "sync"
    })
    .await;
    downstream.answer_with(200);

    let replay = app
        .client
        .post(app.url(&format!("/admin/routes/chatwoot/replay?id={id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();

    assert_eq!(replay.status(), 200);
    eventually("delivered after the replay", || async {
        queue_view(&app).await["depth"] == 0 && downstream.received().len() == 2
    })
    .await;
    assert_eq!(event_ids(&downstream), [id.clone(), id]);
}
