//! Why an append failed, in terms a room and the API can act on.
//!
//! The database's own error text never leaves the writer: it goes to the
//! process log (with the room, session and seqs), while the caller gets a
//! [`LogError`] whose kind says what happened and whose text is fit for a
//! client.

/// What went wrong with an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogErrorKind {
    /// The log could not be reached (connection refused or lost, the
    /// database shutting down, out of disk, the writer gone). Nothing of the
    /// batch is acknowledged; retrying later may succeed. The API answers 503
    /// `log_unavailable`.
    Unavailable,
    /// The log refused this batch for a reason of its own (a value Postgres
    /// cannot store, such as a NUL in a text field; a seq already in the
    /// log). Other batches are not affected; retrying the same batch fails
    /// the same way.
    Rejected,
    /// The room's lease has moved on: the batch was written under an epoch
    /// that is no longer the room's (another node, or a newer instance of the
    /// room, holds it). The room must stop; nothing of the batch is in the log.
    Fenced,
    /// Not written because an earlier batch of the same session failed: its
    /// seqs would follow a gap. The batch itself may be fine; the room
    /// refolds its state from the log and goes on.
    PrecedingBatchFailed,
}

impl LogErrorKind {
    /// A stable snake_case name, for logs and error codes.
    pub fn code(self) -> &'static str {
        match self {
            LogErrorKind::Unavailable => "unavailable",
            LogErrorKind::Rejected => "rejected",
            LogErrorKind::Fenced => "fenced",
            LogErrorKind::PrecedingBatchFailed => "preceding_batch_failed",
        }
    }
}

/// An append that did not become durable. `Display` is safe to show a
/// client: it never holds the database's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message)]
pub struct LogError {
    /// What happened, for the room and the API to decide on.
    pub kind: LogErrorKind,
    /// A fixed, client-safe sentence: what a caller may read.
    pub message: &'static str,
}

impl LogError {
    pub fn unavailable() -> LogError {
        LogError { kind: LogErrorKind::Unavailable, message: "the event log is unavailable" }
    }

    pub fn fenced() -> LogError {
        LogError {
            kind: LogErrorKind::Fenced,
            message: "the room's lease is held elsewhere: the batch was not written",
        }
    }

    pub fn preceding_batch_failed() -> LogError {
        LogError {
            kind: LogErrorKind::PrecedingBatchFailed,
            message: "an earlier batch of the room failed to append: this one was not written, so the log keeps no gap",
        }
    }

    /// The log refused the batch; `sqlstate` picks the sentence.
    pub fn rejected(sqlstate: Option<&str>) -> LogError {
        let message = match sqlstate {
            // 22P05 untranslatable character (\u0000 in JSON), 22021 a NUL byte in text
            Some("22P05" | "22021") => "the event log cannot store a character of the batch (such as NUL)",
            Some("23505") => "an event with this seq is already in the log",
            Some(code) if code.starts_with("54") => "an event of the batch is too large for the log",
            Some(code) if code.starts_with("22") => "the event log cannot store a value of the batch",
            _ => "the event log refused the batch",
        };
        LogError { kind: LogErrorKind::Rejected, message }
    }

    pub fn kind(&self) -> LogErrorKind {
        self.kind
    }
}

/// How the writer treats a failed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The log is not reachable: fail what is not durable yet.
    Unavailable,
    /// Worth running the same statement again at once (a deadlock or a
    /// serialisation failure, which Postgres resolves by aborting one side).
    Retry,
    /// The statement's data was refused: find the batch at fault.
    Rejected,
}

/// Classify a failed statement. Anything that is not the database refusing
/// the statement's data (I/O, TLS, protocol, pool timeouts, connection,
/// operator and schema classes) means the log is unavailable.
pub(crate) fn classify(error: &sqlx::Error) -> Failure {
    match error {
        sqlx::Error::Database(db) => classify_sqlstate(db.code().as_deref()),
        sqlx::Error::Encode(_) | sqlx::Error::InvalidArgument(_) => Failure::Rejected,
        _ => Failure::Unavailable,
    }
}

pub(crate) fn classify_sqlstate(sqlstate: Option<&str>) -> Failure {
    let Some(code) = sqlstate else { return Failure::Unavailable };
    match code {
        "40001" | "40P01" => Failure::Retry,
        _ => match &code[..code.len().min(2)] {
            // data exception, integrity constraint (a seq already logged),
            // program limit (a value too large), a trigger refusing a row,
            // check option: the statement's data is at fault
            "22" | "23" | "27" | "44" | "54" | "P0" => Failure::Rejected,
            // everything else says the log cannot take anything now: connection
            // exception (08), insufficient resources such as a full disk (53),
            // operator intervention (57), system and internal errors (58, XX),
            // a read-only standby (25), a database gone (3D) or not migrated (42)
            _ => Failure::Unavailable,
        },
    }
}

/// The SQLSTATE of a database error, if it is one.
pub(crate) fn sqlstate(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_are_the_batch_s_own_and_connection_errors_make_the_log_unavailable() {
        let cases = [
            (Some("22P05"), Failure::Rejected),
            (Some("22021"), Failure::Rejected),
            (Some("23505"), Failure::Rejected),
            (Some("54000"), Failure::Rejected),
            (Some("P0001"), Failure::Rejected),
            (Some("08006"), Failure::Unavailable),
            (Some("57P01"), Failure::Unavailable),
            (Some("57P03"), Failure::Unavailable),
            (Some("53100"), Failure::Unavailable),
            (Some("XX000"), Failure::Unavailable),
            (Some("42P01"), Failure::Unavailable),
            (Some("3D000"), Failure::Unavailable),
            (Some("55000"), Failure::Unavailable),
            (Some("25006"), Failure::Unavailable),
            (Some("40P01"), Failure::Retry),
            (Some("40001"), Failure::Retry),
            (None, Failure::Unavailable),
        ];
        for (sqlstate, expected) in cases {
            assert_eq!(classify_sqlstate(sqlstate), expected, "{sqlstate:?}");
        }
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Failure::Unavailable);
        assert_eq!(classify(&sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into())), Failure::Unavailable);
    }

    #[test]
    fn a_rejected_batch_reads_as_a_fixed_sentence_that_names_the_cause() {
        assert_eq!(
            LogError::rejected(Some("22P05")).to_string(),
            "the event log cannot store a character of the batch (such as NUL)"
        );
        assert_eq!(LogError::rejected(Some("23505")).to_string(), "an event with this seq is already in the log");
        assert_eq!(LogError::rejected(Some("42P01")).to_string(), "the event log refused the batch");
        assert_eq!(LogError::rejected(None).kind(), LogErrorKind::Rejected);
    }
}
