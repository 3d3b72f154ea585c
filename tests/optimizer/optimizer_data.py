"""Tables of the optimizer tests. ``GOLDEN_DATA`` is what the golden files are planned against
(statistics need rows); queries run on tests/review_tables.py's ``REVIEWS``."""

from __future__ import annotations

# Reviews are all different and long; categories repeat and are short (field ordering cares).
GOLDEN_DATA = """
CREATE TABLE reviews AS SELECT range::INTEGER AS id,
  'review number ' || range || ' says the product is ' ||
    CASE WHEN range % 3 = 0 THEN 'fine' ELSE 'broken' END AS review,
  (1 + range % 5)::INTEGER AS stars,
  CASE WHEN range % 2 = 0 THEN 'tools' ELSE 'toys' END AS category
FROM range(20);
CREATE TABLE categories AS SELECT * FROM (VALUES ('tools', 'Tools & hardware'), ('toys', 'Toys'))
  t(category, title);
"""
