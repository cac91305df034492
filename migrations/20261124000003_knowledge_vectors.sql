-- Sentence vectors of knowledge entries: one per text that may reach the
-- entry (each question variant, the answer). Retrieval keeps them in memory
-- per brand and knowledge version; Postgres is where they live.
CREATE TABLE knowledge_vectors (
    entry_id bigint   NOT NULL REFERENCES knowledge_entries (entry_id) ON DELETE CASCADE,
    ordinal  int      NOT NULL,
    model    text     NOT NULL,
    source   text     NOT NULL,
    vector   real[]   NOT NULL,
    PRIMARY KEY (entry_id, ordinal)
);
