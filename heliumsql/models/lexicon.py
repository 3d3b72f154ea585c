"""Word lists the text generators draw from; every label follows from which list a word came from.

The lists are plain tuples so a generated text's facts (sentiment, topic, aspects, names) are known
exactly, which is what makes the training answers correct by construction.

>>> "shipping" in ASPECTS
True
"""

from __future__ import annotations

PRODUCTS = (
    "wireless headphones", "coffee maker", "running shoes", "desk lamp", "backpack", "phone case",
    "bluetooth speaker", "yoga mat", "water bottle", "office chair", "smart watch", "blender",
    "winter jacket", "laptop stand", "electric kettle", "gaming mouse", "mechanical keyboard",
    "air fryer", "hiking boots", "sunglasses", "power bank", "tablet", "camera", "vacuum cleaner",
    "toaster", "rain coat", "suitcase", "monitor", "fitness tracker", "hair dryer", "jeans",
    "t-shirt", "sofa cushion", "frying pan", "alarm clock", "webcam", "router", "drone",
    "e-reader", "microwave", "sneakers", "dress", "wallet", "tent", "sleeping bag", "bike helmet",
    "printer", "charger", "earbuds", "headphones", "speaker", "lamp", "kettle", "mouse", "keyboard",
)

POSITIVE_OPENERS = (
    "I love this {product}.", "Great {product}, highly recommend it.", "This {product} is excellent.",
    "Best {product} I have ever owned.", "Really happy with this {product}.", "Fantastic {product}!",
    "Five stars for this {product}.", "Absolutely love it.", "Works perfectly.", "Very satisfied.",
    "Exceeded my expectations.", "Wonderful purchase.", "Would buy this {product} again.",
    "Amazing {product}.", "So glad I bought this.", "Just what I needed.",
    "My family loves this {product}.", "Super happy with it.", "Highly recommended.",
    "The {product} is great.", "Solid {product}, no complaints.", "Impressed with this {product}.",
)

NEGATIVE_OPENERS = (
    "I hate this {product}.", "Terrible {product}, do not buy it.", "This {product} is awful.",
    "Worst {product} I have ever owned.", "Really disappointed with this {product}.",
    "Horrible {product}!", "One star for this {product}.", "Nothing but problems.",
    "Nothing works as promised.", "Very unhappy.", "Did not meet my expectations.",
    "Awful purchase.", "Would never buy this {product} again.", "Very annoying to use.",
    "I regret buying this.", "Do not recommend.", "Returning this {product}.",
    "Very frustrated with it.", "Useless {product}.", "The {product} is bad.",
    "Avoid this {product}.", "Disappointed with this {product}.",
)

# aspect -> (positive sentences, negative sentences). Every sentence names its aspect with the
# aspect's own word, so "does this review mention X" has a definite, visible answer.
ASPECTS = {
    "shipping": (
        ("The shipping was fast.", "Fast shipping, it arrived two days early.", "Quick shipping and easy delivery.",
         "Fast shipping and well packed.", "The shipping was on time."),
        ("The shipping took forever.", "Slow shipping, it arrived two weeks late.", "The shipping was slow.",
         "The shipping box arrived damaged.", "The shipping was a nightmare."),
    ),
    "price": (
        ("The price is very reasonable.", "Great value for the price.", "Low price but works well.",
         "Worth the price.", "Affordable price."),
        ("The price is way too high.", "The price is too high for what you get.", "Overpriced, the price is a joke.",
         "Not worth the price.", "The price costs far too much."),
    ),
    "quality": (
        ("The build quality is excellent.", "The quality feels solid and well made.", "High quality materials.",
         "Very durable, great quality.", "The quality is outstanding."),
        ("The quality is poor.", "The quality feels flimsy and cheap.", "Poor quality, badly made.",
         "Low quality, it fell apart quickly.", "The materials feel low quality."),
    ),
    "size": (
        ("The size is perfect.", "The size fits just right.", "True to size.",
         "Compact size, fits in my bag.", "Perfect size for me."),
        ("The size is wrong.", "The size runs too small.", "Way too big a size for me.",
         "Wrong size, it does not fit.", "The size chart is wrong."),
    ),
    "customer service": (
        ("Customer service was very helpful.", "The customer service answered quickly.",
         "Great customer service.", "Friendly and helpful customer service.",
         "Customer service replaced it right away."),
        ("Customer service was rude.", "The customer service never answered.",
         "Terrible customer service.", "Customer service ignored my emails.",
         "Customer service refused to help."),
    ),
    "battery": (
        ("The battery lasts all day.", "The battery life is amazing.", "The battery charges quickly.",
         "The battery lasts for a week.", "Long battery life."),
        ("The battery dies in an hour.", "The battery life is terrible.", "The battery will not hold a charge.",
         "The battery drains too fast.", "Short battery life."),
    ),
    "noise": (
        ("It is very quiet, no noise at all.", "It runs without noise.", "Barely makes any noise.",
         "Little noise even at full power.", "No noise at all."),
        ("It makes a lot of noise.", "Makes a horrible noise.", "Too much noise to use at night.",
         "The noise is unbearable.", "It rattles, the noise is awful."),
    ),
    "color": (
        ("The color is beautiful.", "The color looks exactly like the photos.", "Lovely color.",
         "The color is bright.", "Nice color options."),
        ("The color is nothing like the photos.", "The color faded quickly.", "Ugly color.",
         "The color looks dull.", "Wrong color was sent."),
    ),
}

TOPICS = ("sports", "politics", "technology", "business", "science")

FIRST_NAMES = (
    "Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Isabel", "Jack", "Karen",
    "Liam", "Maria", "Noah", "Olivia", "Peter", "Quinn", "Rosa", "Samuel", "Tina", "Umar", "Vera",
    "William", "Xena", "Yusuf", "Zoe", "Ahmed", "Beatriz", "Chen", "Dmitri", "Elena", "Fatima",
    "Giulia", "Hiro", "Ingrid", "Jamal", "Kenji", "Lucia", "Mateo", "Nadia", "Oscar", "Priya",
    "Ravi", "Sofia", "Tomas", "Ana", "Ben", "Chloe", "Diego", "Eva", "Felix", "Hannah", "Ivan",
    "Julia", "Kofi", "Laura", "Marco", "Nina", "Omar", "Paula", "Sara", "Tom", "Yara",
)
LAST_NAMES = (
    "Smith", "Johnson", "Garcia", "Miller", "Davis", "Martinez", "Lopez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Martin", "Lee", "Walker", "Hall", "Young", "King", "Wright",
    "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Roberts",
    "Carter", "Phillips", "Evans", "Turner", "Torres", "Parker", "Collins", "Edwards", "Stewart",
    "Morris", "Nguyen", "Murphy", "Rivera", "Cook", "Rogers", "Morgan", "Peterson", "Cooper",
    "Reed", "Bailey", "Bell", "Kim", "Patel", "Novak", "Kowalski", "Silva", "Rossi", "Muller",
    "Tanaka", "Okafor", "Haddad", "Larsen", "Dubois", "Schmidt", "Ivanova", "Costa",
)
CITIES = (
    "Paris", "London", "Berlin", "Madrid", "Rome", "Lisbon", "Vienna", "Prague", "Warsaw", "Dublin",
    "Amsterdam", "Brussels", "Oslo", "Stockholm", "Helsinki", "Copenhagen", "Athens", "Zurich",
    "New York", "Boston", "Chicago", "Denver", "Seattle", "Austin", "Miami", "Toronto", "Montreal",
    "Vancouver", "Tokyo", "Osaka", "Seoul", "Beijing", "Shanghai", "Mumbai", "Delhi", "Sydney",
    "Melbourne", "Cairo", "Lagos", "Nairobi", "Lima", "Bogota", "Santiago", "Mexico City",
    "Buenos Aires", "Istanbul", "Dubai", "Singapore", "Bangkok", "Jakarta", "San Francisco",
    "Los Angeles", "Houston", "Phoenix", "Atlanta", "Munich", "Milan", "Barcelona", "Lyon",
)
COMPANIES = (
    "Acme Corp", "Globex", "Initech", "Umbrella Inc", "Stark Industries", "Wayne Enterprises",
    "Hooli", "Vandelay Industries", "Soylent", "Cyberdyne", "Tyrell Corp", "Wonka Foods",
    "Oscorp", "Massive Dynamic", "Aperture Labs", "Blue Sun", "Nakatomi Trading", "Gringotts Bank",
    "Pied Piper", "Dunder Mifflin", "Monarch Solar", "Nimbus Cloud", "Orbital Motors", "Vertex Bio",
)
TEAMS = (
    "the Lions", "the Tigers", "the Eagles", "the Sharks", "the Wolves", "the Bears", "the Hawks",
    "the Falcons", "the Rangers", "the Royals", "the Comets", "the Titans", "the Pirates",
    "the Giants", "the Rockets", "the Storm", "the Bulls", "the Dragons", "the Panthers", "the Jets",
)
EVENTS = ("final", "semifinal", "derby", "league match", "cup match", "season opener", "playoff game")
SCIENCE_FIELDS = (
    "astronomers", "biologists", "physicists", "chemists", "geologists", "climate scientists",
    "neuroscientists", "ecologists", "researchers", "marine biologists",
)
DISCOVERIES = (
    "a new species of frog", "water ice on a distant moon", "a gene linked to ageing",
    "a new type of superconductor", "an ancient meteor crater", "a planet orbiting two stars",
    "a bacterium that eats plastic", "a faster way to split water", "a new antibiotic",
    "a fossil of a giant bird", "a black hole merger", "a coral that resists heat",
)
TECH_PRODUCTS = (
    "a new smartphone", "an AI chatbot", "a faster laptop chip", "a cloud gaming service",
    "a self-driving taxi", "a foldable tablet", "a new operating system", "a smart home hub",
    "an electric scooter", "a quantum computer", "a password manager", "a virtual reality headset",
)
POLICIES = (
    "a new tax on fuel", "a plan to build more housing", "a ban on single-use plastics",
    "a rise in the minimum wage", "a reform of the pension system", "new rules for social media",
    "a cut to income taxes", "more funding for schools", "a new climate law", "a healthcare bill",
)
POLITICIANS = ("the prime minister", "the president", "the senate", "parliament", "the mayor",
               "the governor", "the city council", "the opposition party", "the government")
BUSINESS_ACTIONS = (
    ("buy", "a rival firm"), ("cut", "two thousand jobs"), ("open", "fifty new stores"),
    ("raise", "its dividend"), ("close", "three factories"), ("launch", "an online shop"),
    ("sell", "its shipping unit"), ("hire", "five hundred engineers"),
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TICKERS = (
    "AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "META", "TSLA", "NFLX", "INTC", "AMD", "ORCL", "IBM",
    "CSCO", "ADBE", "CRM", "PYPL", "UBER", "SHOP", "SNOW", "PLTR", "KO", "PEP", "WMT", "DIS",
    "NKE", "JPM", "BAC", "GS", "XOM", "CVX", "PFE", "MRK", "BA", "GE", "F", "GM", "T", "VZ",
    "ACME", "HELI", "DUCK", "QUAK", "ZETA", "NOVA", "ORBT", "LUNA", "VRTX", "BLUE",
)
ANALYST_ROLES = ("technical", "fundamental", "sentiment")

# The lists the first built-in model (v1) was trained on; vocabulary.held_out never holds out a
# word of these, since v2 starts from v1's weights.
V1_LISTS = ("PRODUCTS", "POSITIVE_OPENERS", "NEGATIVE_OPENERS", "ASPECTS", "TOPICS", "FIRST_NAMES",
            "LAST_NAMES", "CITIES", "COMPANIES", "TEAMS", "EVENTS", "SCIENCE_FIELDS", "DISCOVERIES",
            "TECH_PRODUCTS", "POLICIES", "POLITICIANS", "BUSINESS_ACTIONS", "WEEKDAYS")

# v2's broader vocabulary: a quarter of these names and cities is held out (vocabulary.pick).
MORE_FIRST_NAMES = (
    "Aisha", "Bruno", "Camila", "Dario", "Esther", "Farid", "Gemma", "Hugo", "Irene", "Joaquin",
    "Keiko", "Lars", "Mina", "Nikolai", "Odette", "Pablo", "Rania", "Stefan", "Talia", "Viktor",
    "Wendy", "Xavier", "Yuki", "Zara", "Amara", "Boris", "Clara", "Emil", "Freya", "Goran",
    "Helga", "Idris", "Jonas", "Kira", "Leon", "Malik", "Nora", "Otto", "Petra", "Rafael",
)
MORE_LAST_NAMES = (
    "Andersen", "Bianchi", "Castillo", "Dalton", "Eriksen", "Fischer", "Gomez", "Horvat", "Ibrahim",
    "Jensen", "Kaplan", "Lindqvist", "Moreau", "Nakamura", "Oliveira", "Petrov", "Quintero",
    "Romano", "Sato", "Tremblay", "Urban", "Vargas", "Weber", "Yilmaz", "Zhang", "Abara", "Brennan",
    "Chowdhury", "Duarte", "Fontaine", "Greco", "Hoffman", "Jovanovic", "Keller", "Lindgren",
)
MORE_CITIES = (
    "Porto", "Seville", "Valencia", "Naples", "Turin", "Krakow", "Budapest", "Bucharest", "Sofia",
    "Riga", "Vilnius", "Tallinn", "Geneva", "Hamburg", "Cologne", "Rotterdam", "Antwerp", "Glasgow",
    "Manchester", "Leeds", "Ottawa", "Calgary", "Portland", "Dallas", "Detroit", "Nashville",
    "Kyoto", "Hanoi", "Manila", "Lahore", "Karachi", "Accra", "Casablanca", "Tunis", "Quito",
    "Havana", "Auckland", "Perth", "Adelaide", "Marseille",
)

# Review openers by strength, for 1-5 scores (5 and 1 strong, 4 and 2 mild; 3 is a mixed review).
STRONG_POSITIVE = (
    "Best {product} I have ever owned.", "Absolutely love it.", "Fantastic {product}!",
    "Five stars for this {product}.", "Exceeded my expectations.", "Amazing {product}.",
    "I love this {product}.", "Perfect in every way.", "Outstanding {product}, worth every cent.",
)
MILD_POSITIVE = (
    "Pretty good {product}.", "Decent {product} for daily use.", "Solid {product}, no complaints.",
    "It works fine.", "Good enough for me.", "Nice {product} overall.", "Quite good for the money.",
    "A good {product}, nothing special.",
)
MILD_NEGATIVE = (
    "Not great.", "The {product} is a bit disappointing.", "Could be better.",
    "Somewhat disappointed with this {product}.", "Not really worth it.", "A mediocre {product}.",
    "It does the job, barely.", "Below average {product}.",
)
STRONG_NEGATIVE = (
    "Worst {product} I have ever owned.", "Terrible {product}, do not buy it.", "I hate this {product}.",
    "Absolutely awful.", "One star for this {product}.", "Horrible {product}!",
    "A complete waste of money.", "Broken on arrival and useless.",
)
MIXED_OPENERS = ("It is okay.", "Mixed feelings about this {product}.", "Some good, some bad.",
                 "An average {product}.", "It has pros and cons.", "Okay, but not perfect.")
# Frames for one AFINN sentiment word, whatever its part of speech.
WORD_FRAMES = ("In a word: {w}.", "One word for this {product}: {w}.", "My verdict: {w}.",
               "Summed up in one word: {w}.", "How I would describe it: {w}.", "Honestly, {w}.")

# Support tickets: kind -> sentences (the thing is a product or a part of the service).
TICKET_THINGS = ("the app", "the website", "the checkout page", "the mobile app", "the dashboard",
                 "the login page", "the search bar", "the settings menu", "the {product}")
TICKETS = {
    "bug": ("{thing} crashes every time I open it.", "{thing} shows an error when I click save.",
            "Since the update {thing} freezes and nothing loads.", "{thing} is broken: the button does nothing.",
            "I get a blank screen on {thing}.", "{thing} keeps logging me out with an error."),
    "feature": ("It would be great if {thing} had a dark mode.", "Please add an export button to {thing}.",
                "Could you add a way to share lists in {thing}?", "I wish {thing} supported more languages.",
                "Please let us change the font size in {thing}.", "Feature request: add offline mode to {thing}."),
    "question": ("How do I change my password on {thing}?", "Where can I find my order history in {thing}?",
                 "Is there a way to use {thing} on two devices?", "What are the opening hours of your support?",
                 "How can I update my address in {thing}?", "Does {thing} work with a tablet?"),
    "billing": ("I was charged twice for my order.", "Please refund the payment for my last order.",
                "My invoice shows the wrong amount.", "Why was my card charged again this month?",
                "I cancelled but I am still being billed.", "The discount was not applied to my bill."),
}
# Label descriptions an llm_classify call may give (label -> a few ways to describe it).
DESCRIPTIONS = {
    "positive": ("the customer is happy", "a good review", "praise"),
    "negative": ("the customer is unhappy", "a bad review", "a complaint"),
    "sports": ("games, teams and players", "sport news"), "politics": ("government and elections", "politics news"),
    "technology": ("gadgets, software and tech companies", "tech news"),
    "business": ("companies, markets and money", "business news"),
    "science": ("research and discoveries", "science news"),
    "bug": ("something is broken", "an error or crash"), "feature": ("a wish for something new", "a request to add something"),
    "question": ("the customer asks how to do something", "a question"),
    "billing": ("payments, charges and refunds", "money matters"),
}
