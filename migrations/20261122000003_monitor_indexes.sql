-- The ring monitor lists the newest cross-bank transfers; these keep that a short index scan.
CREATE INDEX transfers_by_age ON transfers (created_at_ms);
CREATE INDEX participations_by_age ON participations (created_at_ms);
