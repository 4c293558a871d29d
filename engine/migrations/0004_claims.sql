-- The claims of an answer (its sentences that state something, with the sources that
-- support each, or none) as JSON, so that a stored answer keeps its unsupported
-- sentences marked. Answers stored before have none.
ALTER TABLE messages ADD COLUMN claims TEXT;
