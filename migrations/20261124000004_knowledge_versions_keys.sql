-- Versioned knowledge, brand API keys, audit of every change.

-- A product row holds everything the brand configured for it (FAQ included);
-- its knowledge entries are derived from it.
ALTER TABLE products
    ADD COLUMN promo_valid_from  timestamptz,
    ADD COLUMN promo_valid_until timestamptz,
    ADD COLUMN faq jsonb NOT NULL DEFAULT '[]';

UPDATE products p SET faq = COALESCE((
    SELECT jsonb_agg(jsonb_build_object('id', e.entry_key, 'questions', to_jsonb(e.questions),
                                        'answer', e.answer, 'answer_en', e.answer_en) ORDER BY e.entry_id)
    FROM knowledge_entries e WHERE e.product_id = p.product_id AND e.kind = 'faq'), '[]');

ALTER TABLE brands
    ADD COLUMN forbidden_claims jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN deleted_at timestamptz;

-- What each version changed: a list of {op, kind, id, before, after}.
ALTER TABLE knowledge_versions ADD COLUMN changes jsonb NOT NULL DEFAULT '[]';

-- Entries are never rewritten: a change closes the old rows (version_to) and
-- adds new ones (version_from), so retrieval at any version sees exactly the
-- entries of that version. A session pins the version it started with.
ALTER TABLE knowledge_entries
    DROP CONSTRAINT knowledge_entries_brand_id_entry_key_key,
    DROP CONSTRAINT knowledge_entries_product_id_fkey,
    ADD COLUMN version_from bigint NOT NULL DEFAULT 0,
    ADD COLUMN version_to bigint,
    ADD COLUMN product_name text,
    -- the product's name, English name and aliases, for "which product does
    -- the question name" at this version
    ADD COLUMN product_names text[] NOT NULL DEFAULT '{}';
UPDATE knowledge_entries e SET product_name = p.name,
    product_names = array_remove(array_prepend(p.name, array_prepend(p.name_en, p.aliases)), NULL)
    FROM products p WHERE p.product_id = e.product_id;
ALTER TABLE knowledge_entries ALTER COLUMN version_from DROP DEFAULT;
CREATE UNIQUE INDEX knowledge_entries_current_key ON knowledge_entries (brand_id, entry_key) WHERE version_to IS NULL;
CREATE INDEX knowledge_entries_brand_version ON knowledge_entries (brand_id, version_from);

-- API keys: `lrk_<key_id>_<secret>`; only the SHA-256 of the secret is kept.
CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    brand_id    text NOT NULL REFERENCES brands (brand_id),
    role        text NOT NULL CHECK (role IN ('editor', 'operator', 'analyst')),
    secret_hash bytea NOT NULL,
    label       text NOT NULL DEFAULT '',
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_brand ON api_keys (brand_id);
