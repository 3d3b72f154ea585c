"""Workload 6, a semantic join in the style of SemBench: "is this review about this product?"

``reviews`` (with reposted duplicates, as scraped review tables have) and ``products`` (a name
and a short description) are joined on an ``llm_filter`` that reads both rows, the review
first. Two statements:

1. an inner join over every pair (the LLM judges the whole cross product);
2. "should we suggest this product to this reviewer?" as a LEFT join whose ON clause also asks
   ``r.category = p.category``, so only pairs of the same category reach the model, and
   reviews no product matches keep a NULL row.

HeliumSQL plans each as an ``LlmJoin`` (each distinct candidate pair once, a review's pairs
together so its text is a shared KV prefix); the other SQL systems evaluate the ON clause on
the spot, pair by pair as DuckDB meets them; the agent runs the nested loop in Python.

The issue's shape is 100 reviews x 30 products; the ``full`` size here is 24 x 10 (240 pairs)
so that the naive system (every pair prefilled from scratch) finishes in about a minute on a
2-core CPU, and ``large`` is the issue's 100 x 30 for a GPU.

>>> [s.count("llm_filter") for s in WORKLOAD.statements(WORKLOAD.sizes["quick"])]
[1, 1]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.workflows import text
from benchmarks.workflows.workload import Llm, Tables, Workload, render, sql_string

QUESTION = (
    "You match customer reviews to the products they are about. A review is about a product "
    "when it describes using, buying, returning or judging that product, not merely a product "
    "of the same kind. Read the review, then the name and the description of the product, "
    "and answer yes or no.\nReview: {r.review_text}\nProduct: {p.product_name}. {p.description}\n"
    "Is this review about this product?"
)
RECOMMEND = (
    "You help a shop decide which products to suggest to a customer. Read what the customer "
    "wrote in a review of something they bought, then the name and the description of a "
    "product from the same department. Judge from the review alone whether this customer "
    "would be glad to be offered this product, and answer yes or no.\n"
    "Review: {r.review_text}\nProduct: {p.product_name}. {p.description}\n"
    "Should we suggest this product to this customer?"
)
CATEGORIES = ("kitchen", "garden", "tools", "toys")


@dataclass(frozen=True)
class Sizes:
    """``num_reviews`` reviews (``num_reposts`` of them repeat an earlier review's text) and
    ``num_products`` products; review texts are about ``review_chars`` long."""

    num_reviews: int
    num_products: int
    num_reposts: int
    review_chars: int


def data(sizes: Sizes, seed: int) -> Tables:
    rng = random.Random(f"semantic_join-{seed}")
    products = [dict(product_id=i + 1, category=CATEGORIES[i % len(CATEGORIES)],
                     product_name=f"{text.name(rng, 2)} {rng.choice(text.WORDS)}",
                     description=text.sentence(rng, rng.randint(8, 14)))
                for i in range(sizes.num_products)]
    reviews: list[dict] = []
    for i in range(sizes.num_reviews):
        if i >= sizes.num_reviews - sizes.num_reposts:
            source = reviews[rng.randrange(sizes.num_reviews - sizes.num_reposts)]
            body, category = source["review_text"], source["category"]
        else:
            body, category = text.paragraph(rng, sizes.review_chars), rng.choice(CATEGORIES)
        reviews.append(dict(review_id=i + 1, category=category, review_text=body))
    return {"reviews": reviews, "products": products}


def statements(sizes: Sizes) -> list[str]:
    return [
        f"SELECT r.review_id, p.product_id FROM reviews r JOIN products p "
        f"ON llm_filter({sql_string(QUESTION)}) ORDER BY r.review_id, p.product_id",
        f"SELECT r.review_id, p.product_id FROM reviews r LEFT JOIN products p "
        f"ON r.category = p.category AND llm_filter({sql_string(RECOMMEND)}) "
        "ORDER BY r.review_id, p.product_id",
    ]


def agent(tables: Tables, llm: Llm, sizes: Sizes) -> list[list[tuple]]:
    """The nested loop: for each review, ask about each product (of its category, for the
    second query), one request at a time."""
    reviews = sorted(tables["reviews"], key=lambda r: r["review_id"])
    products = sorted(tables["products"], key=lambda p: p["product_id"])

    def asks(question: str, r: dict, p: dict) -> bool:
        return bool(llm.filter(render(question, review_text=r["review_text"],
                                      product_name=p["product_name"],
                                      description=p["description"])))

    inner = [(r["review_id"], p["product_id"]) for r in reviews for p in products
             if asks(QUESTION, r, p)]
    left: list[tuple] = []
    for r in reviews:
        matched = [(r["review_id"], p["product_id"]) for p in products
                   if p["category"] == r["category"] and asks(RECOMMEND, r, p)]
        left += matched or [(r["review_id"], None)]
    return [inner, left]


WORKLOAD = Workload(
    name="semantic_join",
    description="SemBench-style semantic join, reviews x products on llm_filter('is this "
                "review about this product?') over every pair, then a LEFT join asking 'should "
                "we suggest it?' within the same category",
    sizes={"quick": Sizes(num_reviews=6, num_products=4, num_reposts=2, review_chars=120),
           "full": Sizes(num_reviews=24, num_products=10, num_reposts=4, review_chars=300),
           "large": Sizes(num_reviews=100, num_products=30, num_reposts=10, review_chars=300)},
    data=data, statements=statements, agent=agent)
