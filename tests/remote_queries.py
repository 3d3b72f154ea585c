"""LLM queries of every kind over a small ``items`` table, shared by the remote backend's tests
(against a test server and against ``heliumsql serve``): each must give the local engine's rows."""

NAMES = ["apple", "banana", "cherry", "apple", "date", "elder", "fig", "grape", "banana", "kiwi"]
DESCRS = ["red fruit, sweet", "yellow fruit", "red, small", "red fruit, sweet", "brown fruit",
          "dark berry", "purple fruit", "green or red", "yellow fruit", "green, fuzzy"]
ITEMS = (f"CREATE TABLE items AS SELECT i AS id, {NAMES}[i] AS name, {DESCRS}[i] AS descr "
         "FROM range(1, 11) r(i)")
NUM_NAMES = 8  # distinct names: what a per-name call sends after deduplication
INSTRUCTION = "You are a careful analyst. Read the record below and answer in one word. "
SAY = "SELECT id, llm('Say {name}', max_tokens => 3) AS a FROM items ORDER BY id"
QUERIES = {
    "llm": SAY,
    "llm_system": "SELECT id, llm('Name: {name}', system => 'Be brief.', max_tokens => 4) AS a "
                  "FROM items ORDER BY id",
    "llm_filter": "SELECT id FROM items WHERE llm_filter('Red? {descr}') "
                  "AND llm_filter('Long? {name}') ORDER BY id",
    "llm_agg": "SELECT name, llm_agg('Sum up: {descr}', max_tokens => 3) AS s FROM items "
               "GROUP BY name ORDER BY name",
    "llm_map": "SELECT id, a FROM llm_map(TABLE items, 'Say {name}', as => 'a', max_tokens => 3) "
               "ORDER BY id",
    "workflow": f"""
        WITH a AS (SELECT id, llm('{INSTRUCTION} Name: {{name}}', max_tokens => 3) AS x,
                              llm('{INSTRUCTION} About: {{descr}}', max_tokens => 3) AS y FROM items)
        SELECT id, x, y, llm('{INSTRUCTION} Combine: {{x}} / {{y}}', max_tokens => 3) AS z
        FROM a ORDER BY id""",
}
# Typed calls: the remote backend sends their JSON schema as response_format.
TYPED = {
    "returns": "SELECT id, llm('Describe {name}', returns => 'STRUCT(color VARCHAR, sweet BOOLEAN)') "
               "AS r FROM items ORDER BY id",
    "llm_classify": "SELECT id, llm_classify('Ticket: {descr}', ['bug', 'feature', 'question']) AS c "
                    "FROM items ORDER BY id",
    "llm_score": "SELECT id, llm_score('Rate {name}', 1, 5) AS s, typeof(s) FROM items ORDER BY id",
}
