//! Two nodes on one database: a room whose owner stops renewing its lease
//! moves to the other node by replaying its log, and the old owner's late
//! appends are fenced off.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use liveroom::clock::{Clock, VirtualClock};
use liveroom::eventlog::{LogErrorKind, LogRow};
use liveroom::events::{Envelope, Event, SCHEMA_VERSION, UtterancePurpose, Viewer};
use liveroom::room::lease::{self, Acquired, LeaseTimings};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::*;

#[actix_web::test]
async fn a_lease_taken_over_gets_a_new_epoch_and_only_the_current_epoch_renews_or_releases_it() {
    let pool = liveroom::db::connect(&fresh_database().await, 2).await.unwrap();
    liveroom::db::migrate(&pool).await.unwrap();
    let short = Duration::from_millis(200);
    let Acquired::Held { epoch: first } = lease::acquire(&pool, "hall", "node-a", short).await.unwrap() else {
        panic!("a free lease is taken")
    };
    assert_eq!(
        lease::acquire(&pool, "hall", "node-b", short).await.unwrap(),
        Acquired::HeldElsewhere { owner: "node-a".into() }
    );
    tokio::time::sleep(short + Duration::from_millis(50)).await;
    let Acquired::Held { epoch: second } = lease::acquire(&pool, "hall", "node-b", short).await.unwrap() else {
        panic!("an expired lease is taken over")
    };
    assert!(second > first, "epochs increase: {first} then {second}");
    let renewed = lease::renew(&pool, &[("hall".into(), first)], Duration::from_secs(15)).await.unwrap();
    assert!(renewed.is_empty(), "the old owner finds its lease lost");
    let renewed = lease::renew(&pool, &[("hall".into(), second)], Duration::from_secs(15)).await.unwrap();
    assert_eq!(renewed, ["hall"]);
    lease::release(&pool, "hall", first).await.unwrap();
    assert_eq!(lease::current(&pool, "hall").await.unwrap().map(|l| l.owner), Some("node-b".into()));
    // the same node taking its room again (a restarted process) fences its old instance too
    let Acquired::Held { epoch: third } = lease::acquire(&pool, "hall", "node-b", short).await.unwrap() else {
        panic!("a node takes its own lease again")
    };
    assert!(third > second);
    lease::release(&pool, "hall", third).await.unwrap();
    assert_eq!(lease::current(&pool, "hall").await.unwrap(), None);
}

/// A node on `db_url` named `node_id`, on the shared virtual clock.
async fn node(db_url: &str, node_id: &str, leases: LeaseTimings, clock: &Clock, import: bool) -> TestApp {
    let (node_id, clock) = (node_id.to_string(), clock.clone());
    spawn_app_configured(db_url, import, move |settings| {
        settings.node_id = node_id;
        settings.leases = leases;
        settings.clock = clock;
    })
    .await
}

/// Poll the log until `done` holds, moving the shared clock 100 ms between polls.
async fn wait_for_log(
    app: &TestApp,
    clock: &VirtualClock,
    session: Uuid,
    done: impl Fn(&[Envelope]) -> bool,
) -> Vec<Envelope> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = app.events(session).await;
        if done(&events) {
            return events;
        }
        let types: Vec<String> = events.iter().map(|e| format!("{}:{}", e.seq, e.event.type_name())).collect();
        assert!(Instant::now() < deadline, "timed out waiting; log: {types:?}");
        clock.advance(100);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Post one comment; answers its seq once durable.
async fn comment(app: &TestApp, msg_id: &str, text: &str) -> i64 {
    let (status, body) = app
        .post(
            "/api/rooms/hall/events",
            json!({"type": "comment", "viewer_id": msg_id, "viewer_name": "小鱼", "text": text, "platform": "t", "platform_msg_id": msg_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["seqs"][0].as_i64().unwrap()
}

fn reply_finished_for(comment_seq: i64) -> impl Fn(&[Envelope]) -> bool {
    move |events| {
        let Some(reply_id) =
            events.iter().find_map(|e| match &e.event {
                Event::UtteranceDispatched {
                    utterance_id, purpose: UtterancePurpose::Reply { comment_seqs }, ..
                } if comment_seqs.contains(&comment_seq) => Some(utterance_id.clone()),
                _ => None,
            })
        else {
            return false;
        };
        find(events, |e| matches!(e, Event::UtteranceFinished { utterance_id } if *utterance_id == reply_id)).is_some()
    }
}

#[actix_web::test]
async fn a_room_whose_owner_stops_renewing_moves_to_the_other_node_and_the_old_owner_s_late_appends_are_fenced() {
    let db_url = fresh_database().await;
    let (clock, virtual_clock) = Clock::new_virtual(1_700_000_000_000);
    // node A takes the room with a 1 s lease and never renews it (its renewal
    // loop would first run in an hour): as if it hung or lost the database
    let stalled = LeaseTimings { ttl: Duration::from_secs(1), renew_every: Duration::from_secs(3600) };
    let a = node(&db_url, "node-a", stalled, &clock, true).await;
    let opened_at = Instant::now();
    let session = a.open_room("hall").await;
    let epoch_a = a.rooms.get("hall").unwrap().lease_epoch;
    let asked_a = comment(&a, "a-1", "电饭煲能煮粥吗").await;
    wait_for_log(&a, &virtual_clock, session, reply_finished_for(asked_a)).await;
    let mut acknowledged = vec![(asked_a, "t:a-1".to_string())];

    // A's lease expires; node B (renewing every 100 ms) takes the room over by replay
    tokio::time::sleep(Duration::from_millis(1100).saturating_sub(opened_at.elapsed())).await;
    let b_leases = LeaseTimings { ttl: Duration::from_secs(15), renew_every: Duration::from_millis(100) };
    let b = node(&db_url, "node-b", b_leases, &clock, false).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let handle_b = loop {
        if let Some(h) = b.rooms.get("hall") {
            break h;
        }
        assert!(Instant::now() < deadline, "node B did not take the room over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(handle_b.session_id, session, "B continues A's session");
    assert!(handle_b.lease_epoch > epoch_a);
    let current = lease::current(&a.pool, "hall").await.unwrap().unwrap();
    assert_eq!((current.owner.as_str(), current.epoch), ("node-b", handle_b.lease_epoch));

    // A's room actor still runs (nothing told it): its late append is refused
    // and nothing of it reaches the log
    assert!(a.rooms.get("hall").is_some(), "the old owner's room is still running");
    let (status, body) = a
        .post(
            "/api/rooms/hall/events",
            json!({"type": "comment", "viewer_id": "late", "text": "还有货吗", "platform": "t", "platform_msg_id": "a-late"}),
        )
        .await;
    assert!([409, 503].contains(&status), "the late append is refused: {status} {body}");
    assert!(!body.to_string().contains("SQL") && !body.to_string().contains("postgres"), "{body}");
    // and straight at A's writer, with the seq that would come next: fenced
    let tail = a.events(session).await.last().unwrap().seq;
    let late_row = LogRow::from_envelope(
        &Envelope {
            room_id: "hall".into(),
            session_id: session,
            seq: tail + 1,
            ts: virtual_clock.now_ms(),
            version: SCHEMA_VERSION,
            causation: None,
            event: Event::ViewerJoined {
                viewer: Viewer { id: "late".into(), name: String::new(), platform_msg_id: Some("t:a-late-2".into()) },
                variant: None,
            },
        },
        Arc::from("hall"),
    );
    let fenced = a.writer.under_lease("hall", epoch_a).append_and_wait(vec![late_row]).await;
    assert_eq!(fenced.map_err(|e| e.kind()), Err(LogErrorKind::Fenced));

    // B goes on with the session: a question answered and spoken
    let asked_b = comment(&b, "b-1", "保修多久").await;
    assert!(asked_b > asked_a);
    acknowledged.push((asked_b, "t:b-1".to_string()));
    let events = wait_for_log(&b, &virtual_clock, session, reply_finished_for(asked_b)).await;

    // from the log: no gap, every acknowledged event, nothing of A's late
    // appends, and no utterance dispatched twice
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "seqs without gaps");
    for (seq, msg_id) in &acknowledged {
        let logged = events.iter().find(|e| e.seq == *seq).unwrap_or_else(|| panic!("acknowledged {seq} lost"));
        assert_eq!(logged.event.platform_msg_id(), Some(msg_id.as_str()));
    }
    assert!(events.iter().all(|e| !matches!(e.event.platform_msg_id(), Some(id) if id.contains("late"))));
    let dispatched: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::UtteranceDispatched { utterance_id, .. } => Some(utterance_id.as_str()),
            _ => None,
        })
        .collect();
    let distinct: HashSet<&str> = dispatched.iter().copied().collect();
    assert_eq!(distinct.len(), dispatched.len(), "an utterance id dispatched twice: {dispatched:?}");
    b.stop().await;
    a.stop().await;
}
