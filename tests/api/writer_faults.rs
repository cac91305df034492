//! The event log writer against a real Postgres: a bad batch fails alone,
//! injected faults take the real failure path, the writer rides out its
//! database refusing connections, and the log reads back in pages.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use liveroom::eventlog::{self, FaultPlan, InjectedFault, LogError, LogErrorKind, LogRow, LogWriter};
use liveroom::events::{Envelope, Event, SCHEMA_VERSION, Viewer};
use sqlx::PgPool;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::helpers::*;

/// A migrated fresh database: its URL and a pool on it.
async fn migrated_database() -> (String, PgPool) {
    let url = fresh_database().await;
    let pool = liveroom::db::connect(&url, 4).await.expect("connect");
    liveroom::db::migrate(&pool).await.expect("migrate");
    (url, pool)
}

async fn new_session(pool: &PgPool, room_id: &str) -> Uuid {
    let session_id = Uuid::new_v4();
    eventlog::create_session(pool, session_id, room_id).await.expect("create the session");
    session_id
}

/// Comments with seqs `seqs`, the one at `nul_at` (if any) holding a NUL.
fn comments(room_id: &str, session_id: Uuid, seqs: RangeInclusive<i64>, nul_at: Option<i64>) -> Vec<LogRow> {
    let room: Arc<str> = room_id.into();
    seqs.map(|seq| {
        let text = if Some(seq) == nul_at { "能煮粥吗\u{0}".to_string() } else { format!("comment {seq}") };
        let envelope = Envelope {
            room_id: room_id.to_string(),
            session_id,
            seq,
            ts: 1_700_000_000_000 + seq,
            version: SCHEMA_VERSION,
            causation: None,
            event: Event::ViewerCommented {
                viewer: Viewer { id: format!("v{seq}"), name: String::new(), platform_msg_id: None },
                text,
            },
        };
        LogRow::from_envelope(&envelope, room.clone())
    })
    .collect()
}

/// Hand every batch to the writer before it runs (one group), then wait for all.
async fn append_together(writer: &LogWriter, batches: Vec<Vec<LogRow>>) -> Vec<Result<(), LogError>> {
    let receivers: Vec<oneshot::Receiver<Result<(), LogError>>> = batches
        .into_iter()
        .map(|rows| {
            let (tx, rx) = oneshot::channel();
            writer.append(
                rows,
                Box::new(move |result| {
                    let _ = tx.send(result);
                }),
            );
            rx
        })
        .collect();
    let mut outcomes = Vec::new();
    for rx in receivers {
        outcomes.push(rx.await.expect("the writer answers every batch"));
    }
    outcomes
}

fn kind(outcome: &Result<(), LogError>) -> Option<LogErrorKind> {
    outcome.as_ref().err().map(LogError::kind)
}

async fn logged_seqs(pool: &PgPool, session_id: Uuid) -> Vec<i64> {
    eventlog::read_session(pool, session_id, 0).await.expect("read the log").iter().map(|e| e.seq).collect()
}

#[actix_web::test]
async fn a_batch_postgres_refuses_fails_alone_and_every_other_room_s_rows_are_durable() {
    let (_, pool) = migrated_database().await;
    let writer = LogWriter::spawn(pool.clone());
    let (r1, r2, r3) = (new_session(&pool, "r1").await, new_session(&pool, "r2").await, new_session(&pool, "r3").await);
    let outcomes = append_together(
        &writer,
        vec![
            comments("r1", r1, 1..=3, None),
            comments("r2", r2, 1..=3, None),
            comments("r3", r3, 1..=3, None),
            // a NUL inside a text field: the JSON holds \u0000, which jsonb refuses
            comments("r2", r2, 4..=6, Some(5)),
            comments("r1", r1, 4..=6, None),
            comments("r2", r2, 7..=9, None),
            comments("r3", r3, 4..=6, None),
        ],
    )
    .await;
    use LogErrorKind::*;
    let kinds: Vec<Option<LogErrorKind>> = outcomes.iter().map(kind).collect();
    assert_eq!(kinds, [None, None, None, Some(Rejected), None, Some(PrecedingBatchFailed), None]);
    let refused = outcomes[3].as_ref().unwrap_err().to_string();
    assert_eq!(refused, "the event log cannot store a character of the batch (such as NUL)");
    assert!(!refused.contains("Unicode"), "the database's text stays in the process log");

    assert_eq!(logged_seqs(&pool, r1).await, (1..=6).collect::<Vec<_>>());
    assert_eq!(logged_seqs(&pool, r3).await, (1..=6).collect::<Vec<_>>());
    assert_eq!(logged_seqs(&pool, r2).await, [1, 2, 3], "nothing of the refused batch nor of the one after it");

    // a batch of r2 still in flight from before (seqs after the refused ones)
    // would leave a gap: refused; the room, refolded from its log, goes on at 4
    let late = writer.append_and_wait(comments("r2", r2, 10..=12, None)).await;
    assert_eq!(late.as_ref().map_err(LogError::kind), Err(PrecedingBatchFailed));
    writer.append_and_wait(comments("r2", r2, 4..=6, None)).await.expect("the refolded room appends again");
    writer.append_and_wait(comments("r2", r2, 7..=8, None)).await.expect("and goes on");
    assert_eq!(logged_seqs(&pool, r2).await, (1..=8).collect::<Vec<_>>());
}

#[actix_web::test]
async fn a_seq_already_in_the_log_is_refused_as_the_batch_s_own_fault() {
    let (_, pool) = migrated_database().await;
    let writer = LogWriter::spawn(pool.clone());
    let (a, b) = (new_session(&pool, "a").await, new_session(&pool, "b").await);
    writer.append_and_wait(comments("a", a, 1..=2, None)).await.unwrap();
    let outcomes = append_together(&writer, vec![comments("b", b, 1..=2, None), comments("a", a, 2..=3, None)]).await;
    assert_eq!(kind(&outcomes[0]), None);
    assert_eq!(kind(&outcomes[1]), Some(LogErrorKind::Rejected));
    assert_eq!(outcomes[1].as_ref().unwrap_err().to_string(), "an event with this seq is already in the log");
    assert_eq!(logged_seqs(&pool, b).await, [1, 2]);
}

#[actix_web::test]
async fn injected_faults_fail_the_next_appends_through_the_writer_s_real_path() {
    let (_, pool) = migrated_database().await;
    let writer = LogWriter::spawn(pool.clone());
    let (a, b) = (new_session(&pool, "a").await, new_session(&pool, "b").await);

    writer.inject_faults(FaultPlan { fault: InjectedFault::Rejected, batches: 1, room_id: Some("a".into()) });
    let outcomes = append_together(
        &writer,
        vec![comments("a", a, 1..=2, None), comments("b", b, 1..=2, None), comments("a", a, 3..=4, None)],
    )
    .await;
    use LogErrorKind::*;
    assert_eq!(outcomes.iter().map(kind).collect::<Vec<_>>(), [Some(Rejected), None, Some(PrecedingBatchFailed)]);
    writer.append_and_wait(comments("a", a, 1..=2, None)).await.expect("the fault fired once");

    writer.inject_faults(FaultPlan { fault: InjectedFault::Unavailable, batches: 2, room_id: None });
    let outcomes = append_together(&writer, vec![comments("b", b, 3..=4, None), comments("a", a, 3..=4, None)]).await;
    assert_eq!(outcomes.iter().map(kind).collect::<Vec<_>>(), [Some(Unavailable), Some(Unavailable)]);
    assert_eq!(outcomes[0].as_ref().unwrap_err().to_string(), "the event log is unavailable");
    writer.append_and_wait(comments("b", b, 3..=4, None)).await.expect("the log is back");
    writer.append_and_wait(comments("a", a, 3..=4, None)).await.expect("for every room");
    assert_eq!(logged_seqs(&pool, a).await, [1, 2, 3, 4]);
    assert_eq!(logged_seqs(&pool, b).await, [1, 2, 3, 4]);
}

/// The database's name in its URL.
fn database_name(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    path.rsplit('/').next().unwrap().to_string()
}

#[actix_web::test]
async fn the_writer_fails_appends_as_unavailable_while_its_database_refuses_connections_and_recovers_by_itself() {
    let (url, pool) = migrated_database().await;
    let session = new_session(&pool, "outage").await;
    let writer = LogWriter::spawn(pool.clone());
    writer.append_and_wait(comments("outage", session, 1..=2, None)).await.expect("before the outage");

    // the outage: this test's database only (other tests share the server)
    let admin_url = liveroom::db::with_database(&url, "postgres").unwrap();
    let admin = liveroom::db::connect(&admin_url, 1).await.expect("connect to the maintenance database");
    let name = database_name(&url);
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false")))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&name)
    .execute(&admin)
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let outcomes = append_together(
        &writer,
        vec![comments("outage", session, 3..=4, None), comments("outage", session, 5..=6, None)],
    )
    .await;
    assert_eq!(
        outcomes.iter().map(kind).collect::<Vec<_>>(),
        [Some(LogErrorKind::Unavailable), Some(LogErrorKind::PrecedingBatchFailed)]
    );
    assert!(started.elapsed() < Duration::from_secs(5), "an outage answers within the writer's acquire timeout");

    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS true")))
        .execute(&admin)
        .await
        .unwrap();
    // a batch queued before the outage ended, after the failed one: refused (gap)
    let late = writer.append_and_wait(comments("outage", session, 5..=6, None)).await;
    assert_eq!(late.as_ref().map_err(LogError::kind), Err(LogErrorKind::PrecedingBatchFailed));
    // the room refolds from its log and goes on: the writer reconnected by itself
    writer.append_and_wait(comments("outage", session, 3..=4, None)).await.expect("the writer reconnects");
    writer.append_and_wait(comments("outage", session, 5..=5, None)).await.expect("and goes on");
    assert_eq!(logged_seqs(&pool, session).await, [1, 2, 3, 4, 5]);
}

#[actix_web::test]
async fn a_session_reads_back_in_pages_that_end_where_the_log_ends() {
    let (_, pool) = migrated_database().await;
    let writer = LogWriter::spawn(pool.clone());
    let session = new_session(&pool, "pages").await;
    writer.append_and_wait(comments("pages", session, 1..=7, None)).await.unwrap();

    let mut after = 0;
    let mut pages: Vec<Vec<i64>> = Vec::new();
    loop {
        let page = eventlog::read_session_page(&pool, session, after, 3).await.unwrap();
        pages.push(page.events.iter().map(|e| e.seq).collect());
        match page.next_after_seq {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(pages, [vec![1, 2, 3], vec![4, 5, 6], vec![7]]);
    let exact = eventlog::read_session_page(&pool, session, 4, 3).await.unwrap();
    assert_eq!(exact.events.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6, 7]);
    assert_eq!(exact.next_after_seq, None, "a page that reaches the end says so, though it is full");
    let page = eventlog::read_session_page(&pool, session, 0, 7).await.unwrap();
    assert_eq!(page.events, eventlog::read_session(&pool, session, 0).await.unwrap());
    assert!(eventlog::read_session_page(&pool, session, 0, 0).await.is_err(), "an empty page is refused");
    let past_the_end = eventlog::read_session_page(&pool, session, 7, 3).await.unwrap();
    assert!(past_the_end.events.is_empty() && past_the_end.next_after_seq.is_none());
}
