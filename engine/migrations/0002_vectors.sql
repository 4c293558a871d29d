-- Sentence vectors of chunks (little-endian f32), kept so that the vector graph
-- can always be rebuilt without embedding again. `meta` records which embedder
-- made them and a generation counter that moves with every change to them; the
-- saved graph remembers the generation it reflects, so a stale graph is noticed.

CREATE TABLE vectors (
    chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    vector   BLOB    NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('vector_generation', '0');
