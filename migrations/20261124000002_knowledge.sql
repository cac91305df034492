-- Brand product knowledge.

CREATE TABLE brands (
    brand_id   text PRIMARY KEY,
    name       text NOT NULL,
    name_en    text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Every change of a brand's knowledge bumps its version; a session records
-- the version it started with.
CREATE TABLE knowledge_versions (
    brand_id   text NOT NULL REFERENCES brands (brand_id),
    version    bigint NOT NULL,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    summary    text NOT NULL,
    PRIMARY KEY (brand_id, version)
);

CREATE TABLE products (
    product_id  text PRIMARY KEY,
    brand_id    text NOT NULL REFERENCES brands (brand_id),
    position    int NOT NULL DEFAULT 0,
    name        text NOT NULL,
    name_en     text,
    aliases     text[] NOT NULL DEFAULT '{}',
    category    text NOT NULL DEFAULT '',
    price       numeric(12, 2) NOT NULL CHECK (price >= 0),
    promo_price numeric(12, 2) CHECK (promo_price >= 0),
    stock       int NOT NULL CHECK (stock >= 0),
    attributes  jsonb NOT NULL DEFAULT '[]',
    pitch       jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX products_brand ON products (brand_id, position);

-- Retrievable facts: FAQ answers and entries synthesised from product fields
-- (price, stock, attributes). `search_terms` holds the jieba `cut_for_search`
-- words of what a viewer may type to reach the entry (its questions, the
-- product's names), weighted A; `context_terms` those of the answer, weighted D.
CREATE TABLE knowledge_entries (
    entry_id     bigserial PRIMARY KEY,
    brand_id     text NOT NULL REFERENCES brands (brand_id),
    product_id   text REFERENCES products (product_id) ON DELETE CASCADE,
    kind         text NOT NULL,
    entry_key    text NOT NULL,
    questions    text[] NOT NULL DEFAULT '{}',
    answer       text NOT NULL,
    answer_en    text,
    search_terms  text NOT NULL,
    context_terms text NOT NULL DEFAULT '',
    search_tsv    tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', search_terms), 'A') || setweight(to_tsvector('simple', context_terms), 'D')
    ) STORED,
    UNIQUE (brand_id, entry_key)
);
CREATE INDEX knowledge_entries_tsv ON knowledge_entries USING gin (search_tsv);
CREATE INDEX knowledge_entries_product ON knowledge_entries (product_id);
