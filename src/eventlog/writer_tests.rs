//! The writer's failure bookkeeping over a scripted statement: which batches
//! are written, in which order, and what every caller hears. (The same path
//! against a real Postgres: tests/api/writer_faults.rs.)

use std::collections::HashSet;

use uuid::Uuid;

use super::*;

/// A Postgres-shaped error with a SQLSTATE.
#[derive(Debug)]
struct StateError(&'static str);

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sqlstate {}", self.0)
    }
}

impl std::error::Error for StateError {}

impl sqlx::error::DatabaseError for StateError {
    fn message(&self) -> &str {
        "scripted database error"
    }
    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.0.into())
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

/// The statement, scripted: `answer` sees each chunk the writer tries.
struct Scripted<F>(F);

impl<F: FnMut(&[usize]) -> Result<Vec<HeldLease>, sqlx::Error>> InsertChunk for Scripted<F> {
    fn insert<'a>(
        &'a mut self,
        chunk: &'a [usize],
    ) -> impl std::future::Future<Output = Result<Vec<HeldLease>, sqlx::Error>> + Send + 'a {
        std::future::ready((self.0)(chunk))
    }
}

fn db_error(sqlstate: &'static str) -> sqlx::Error {
    sqlx::Error::Database(Box::new(StateError(sqlstate)))
}

/// Batches as (room, batch number within the room); each room one session,
/// each batch 10 seqs after the last.
fn keys<'a>(batches: &[(&'a str, i64)], epoch: Option<i64>) -> Vec<BatchKey<'a>> {
    batches
        .iter()
        .map(|(room, n)| BatchKey {
            session_id: Uuid::from_u128(room.bytes().fold(0u128, |h, b| h * 256 + b as u128)),
            room_id: room,
            epoch,
            first_seq: 10 * (n - 1) + 1,
            last_seq: 10 * n,
        })
        .collect()
}

fn kinds(outcomes: &[Option<Result<(), LogError>>]) -> Vec<Option<LogErrorKind>> {
    outcomes
        .iter()
        .map(|o| match o.as_ref().expect("every batch has an outcome") {
            Ok(()) => None,
            Err(e) => Some(e.kind()),
        })
        .collect()
}

fn held(rooms: &[(&str, i64)]) -> Vec<HeldLease> {
    rooms.iter().map(|(room_id, epoch)| HeldLease { room_id: room_id.to_string(), epoch: *epoch }).collect()
}

#[tokio::test]
async fn a_poisoned_batch_fails_alone_with_the_later_batches_of_its_room_and_the_rest_is_written_in_order() {
    let batches = [("a", 1), ("b", 1), ("c", 1), ("a", 2), ("b", 2), ("c", 2), ("b", 3), ("a", 3)];
    let keys = keys(&batches, None);
    let poisoned = 4; // b's second batch
    let mut outcomes = vec![None; keys.len()];
    let mut written: Vec<usize> = Vec::new();
    let mut statements = 0;
    let broken = write_chunks(
        &keys,
        (0..keys.len()).collect(),
        &mut outcomes,
        &mut HashSet::new(),
        &mut Scripted(|chunk: &[usize]| {
            statements += 1;
            if chunk.contains(&poisoned) {
                return Err(db_error("22P05"));
            }
            written.extend_from_slice(chunk);
            Ok(Vec::new())
        }),
    )
    .await;
    use LogErrorKind::*;
    assert_eq!(
        kinds(&outcomes),
        [None, None, None, None, Some(Rejected), None, Some(PrecedingBatchFailed), None],
        "only b's poisoned batch and b's later one fail"
    );
    assert_eq!(broken, [keys[poisoned].session_id]);
    // halves, in order: every earlier batch is durable before a later one
    assert_eq!(written, [0, 1, 2, 3, 5, 7]);
    assert!(statements <= 1 + 2 * 3, "bisection, not one statement per batch: {statements}");
}

#[tokio::test]
async fn the_log_going_away_fails_what_is_not_durable_yet_as_unavailable() {
    let batches = [("a", 1), ("b", 1), ("a", 2), ("b", 2)];
    let keys = keys(&batches, None);
    let mut outcomes = vec![None; keys.len()];
    let mut calls = 0;
    let broken = write_chunks(
        &keys,
        (0..keys.len()).collect(),
        &mut outcomes,
        &mut HashSet::new(),
        &mut Scripted(|chunk: &[usize]| {
            calls += 1;
            match calls {
                // the group is refused for batch 3's data; the first half is written...
                1 => Err(db_error("22021")),
                2 => {
                    assert_eq!(chunk, [0, 1]);
                    Ok(Vec::new())
                }
                // ...then the connection is gone
                _ => Err(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())),
            }
        }),
    )
    .await;
    use LogErrorKind::*;
    assert_eq!(kinds(&outcomes), [None, None, Some(Unavailable), Some(Unavailable)]);
    assert_eq!(broken.len(), 2, "both sessions must continue the durable log exactly");
}

#[tokio::test]
async fn a_room_whose_lease_moved_on_is_fenced_and_the_other_rooms_are_written() {
    let mut keys = keys(&[("a", 1), ("b", 1), ("a", 2), ("c", 1)], Some(7));
    keys[1].epoch = Some(8);
    keys[3].epoch = None; // unfenced: a tool's append
    let mut outcomes = vec![None; keys.len()];
    let broken = write_chunks(
        &keys,
        (0..keys.len()).collect(),
        &mut outcomes,
        &mut HashSet::new(),
        &mut Scripted(|_: &[usize]| {
            // b's lease now has epoch 9: someone else took the room
            Ok(held(&[("a", 7), ("b", 9)]))
        }),
    )
    .await;
    assert_eq!(kinds(&outcomes), [None, Some(LogErrorKind::Fenced), None, None]);
    assert!(broken.is_empty(), "a fenced batch breaks no session: a newer instance of the room goes on");
}

#[tokio::test]
async fn a_deadlock_is_run_again_and_a_batch_after_a_failure_in_the_group_is_never_tried() {
    let keys = keys(&[("a", 1), ("a", 2), ("b", 1)], None);
    let mut outcomes = vec![None; keys.len()];
    let mut failed_in_group = HashSet::from([keys[0].session_id]);
    outcomes[0] = Some(Err(LogError::unavailable()));
    let mut calls: Vec<Vec<usize>> = Vec::new();
    write_chunks(
        &keys,
        vec![1, 2],
        &mut outcomes,
        &mut failed_in_group,
        &mut Scripted(|chunk: &[usize]| {
            calls.push(chunk.to_vec());
            if calls.len() == 1 { Err(db_error("40P01")) } else { Ok(Vec::new()) }
        }),
    )
    .await;
    assert_eq!(calls, [vec![2], vec![2]], "a's second batch follows its failed first one: never written");
    assert_eq!(kinds(&outcomes), [Some(LogErrorKind::Unavailable), Some(LogErrorKind::PrecedingBatchFailed), None]);
}
