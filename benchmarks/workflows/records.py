"""Workload 5, record queries in the style of Liu et al. (MLSys 2025) over a denormalized table.

``reviews`` joins every review with its product, so the long product description repeats on
every review of the product. Three queries, as an analyst would write them (fields in the order
that comes to mind, not the order that shares prefixes):

1. a projection ``llm('question', review_text, product_description, product_title)`` on every row;
2. ``llm_filter`` on cheap-filtered rows (``rating <= 2``) with ``ORDER BY ... LIMIT``;
3. a projection whose fields are all product columns, so rows of a product repeat the prompt.

>>> [s.count("llm") for s in WORKLOAD.statements(WORKLOAD.sizes["quick"])]
[1, 1, 1]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.workflows import text
from benchmarks.workflows.workload import Llm, Tables, Workload, record, sql_string

MAX_TOKENS = 12
SATISFIED = ("Read the customer review and the product details below. Does the reviewer sound "
             "satisfied with the product, and what is the main reason? Answer in a few words.")
COMPLAINS = ("Read the customer review and the product details below. Does the review complain "
             "about the build quality of the product itself (not about shipping or price)?")
BUYER = ("From the product details below, who is the typical buyer of this product? Answer with "
         "a short phrase.")
CATEGORIES = ("kitchen", "garden", "outdoor", "office", "toys", "tools")


@dataclass(frozen=True)
class Sizes:
    """``num_products`` products with ``reviews_per_product`` reviews each; the filter query
    keeps the first ``limit`` matching reviews."""

    num_products: int
    reviews_per_product: int
    description_chars: int
    limit: int


def data(sizes: Sizes, seed: int) -> Tables:
    rng = random.Random(f"records-{seed}")
    products = [dict(product_title=f"{text.name(rng, 2)} {rng.choice(text.WORDS)} "
                                   f"{rng.choice(('pro', 'mini', 'max', 'one', 'lite'))}",
                     category=rng.choice(CATEGORIES),
                     product_description=text.paragraph(rng, sizes.description_chars))
                for _ in range(sizes.num_products)]
    rows = []
    for i in range(sizes.num_products * sizes.reviews_per_product):
        # Reviews arrive interleaved across products, as a review table's rows do.
        product = products[rng.randrange(len(products))]
        rows.append(dict(review_id=i + 1, rating=rng.randint(1, 5),
                         review_text=text.paragraph(rng, rng.randint(60, 140)), **product))
    return {"reviews": rows}


def statements(sizes: Sizes) -> list[str]:
    return [
        f"SELECT review_id, llm({sql_string(SATISFIED)}, review_text, product_description, "
        f"product_title, max_tokens => {MAX_TOKENS}) AS satisfied FROM reviews ORDER BY review_id",
        f"SELECT review_id, product_title FROM reviews WHERE rating <= 2 AND "
        f"llm_filter({sql_string(COMPLAINS)}, review_text, product_description) "
        f"ORDER BY review_id LIMIT {sizes.limit}",
        f"SELECT review_id, llm({sql_string(BUYER)}, product_title, category, product_description, "
        f"max_tokens => {MAX_TOKENS}) AS buyer FROM reviews ORDER BY review_id",
    ]


def agent(tables: Tables, llm: Llm, sizes: Sizes) -> list[list[tuple]]:
    """Each query as a loop over the rows; the filter loop stops at the limit."""
    rows = sorted(tables["reviews"], key=lambda r: r["review_id"])
    satisfied = [(r["review_id"], llm(record(SATISFIED, ("review_text", r["review_text"]),
                                             ("product_description", r["product_description"]),
                                             ("product_title", r["product_title"])), MAX_TOKENS))
                 for r in rows]
    complaints: list[tuple] = []
    for r in rows:
        if len(complaints) == sizes.limit:
            break
        if r["rating"] <= 2 and llm.filter(record(COMPLAINS, ("review_text", r["review_text"]),
                                                  ("product_description", r["product_description"]))):
            complaints.append((r["review_id"], r["product_title"]))
    buyers = [(r["review_id"], llm(record(BUYER, ("product_title", r["product_title"]),
                                          ("category", r["category"]),
                                          ("product_description", r["product_description"])),
                                   MAX_TOKENS))
              for r in rows]
    return [satisfied, complaints, buyers]


WORKLOAD = Workload(
    name="records",
    description="Liu et al.-style record queries over reviews joined with products: a "
                "projection, llm_filter with ORDER BY/LIMIT, a projection with repeated prompts",
    sizes={"quick": Sizes(num_products=3, reviews_per_product=3, description_chars=200, limit=2),
           "full": Sizes(num_products=6, reviews_per_product=5, description_chars=360, limit=3)},
    data=data, statements=statements, agent=agent)
