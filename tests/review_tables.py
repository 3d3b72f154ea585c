"""The small reviews tables most SQL and optimizer tests query (tests/conftest.py's ``con``)."""

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
