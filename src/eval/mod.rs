//! Evaluations shipped with the binary. Each prints its figures and ends its
//! output with one line of JSON holding the headline numbers.

pub mod retrieval;
pub mod triage;
