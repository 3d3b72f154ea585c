"""Tables of the optimizer tests. ``GOLDEN_DATA`` is what the golden files are planned against
(statistics need rows); ``REVIEWS`` (the same five rows as tests/sql) is what queries run on."""

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

REVIEWS = """
CREATE TABLE reviews AS SELECT * FROM (VALUES
  (1, 'great stuff, works well', 5, 'tools'),
  (2, 'awful, broke in a day', 1, 'toys'),
  (3, 'meh', 2, 'tools'),
  (4, 'awful, broke in a day', 2, 'toys'),
  (5, NULL, 1, 'tools')
) t(id, review, stars, category);
CREATE TABLE categories AS SELECT * FROM (VALUES ('tools', 'Tools & hardware'), ('toys', 'Toys'))
  t(category, title);
"""
