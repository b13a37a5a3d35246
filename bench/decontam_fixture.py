"""The labeled decontamination fixture: benchmark problems, their contaminated variants by kind,
and clean prompts that share stock phrases with them. Written for this benchmark.

Kinds: verbatim, case_whitespace, embedded, latex_wrapped, numbers_changed, paraphrase.
The paraphrases are hand-written; every other kind is produced from the problem by a rule.
"""

from __future__ import annotations

import random
import re
import textwrap

# (problem, paraphrase) pairs; every problem has a number, several have LaTeX.
PAIRS = [
    ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends "
     "every day with 4. She sells the remainder at the farmers' market daily for $2 per egg. How much in dollars does "
     "she make every day at the farmers' market?",
     "Every day Janet collects 16 eggs from her ducks. Three of them are her breakfast and four go into muffins for "
     "friends; the rest she sells at the market for two dollars each. What are her daily market earnings?"),
    ("If $f(x) = \\frac{3x-2}{x-2}$, what is the value of $f(-2) + f(-1) + f(0)$? Express your answer as a common fraction.",
     "Let f be the function f(x) = (3x - 2)/(x - 2). Compute the sum f(-2) + f(-1) + f(0), written as a fraction."),
    ("Find the number of ordered pairs $(m,n)$ of positive integers such that $m^2 n = 20^{20}$.",
     "How many ordered pairs of positive integers (m, n) satisfy the equation m squared times n equals 20 to the power 20?"),
    ("A rectangular box has a volume of 216 cubic inches and a surface area of 216 square inches. What is the sum of "
     "the lengths of all 12 edges of the box?",
     "The volume of a rectangular box is 216 cubic inches and its surface area is 216 square inches. Determine the total "
     "length of its twelve edges."),
    ("The sum of two numbers is 25 and their difference is 11. What is the larger of the two numbers?",
     "Two numbers add up to 25, and one exceeds the other by 11. Find the bigger number."),
    ("How many positive divisors does $6!$ have? Give your answer as an integer with no units.",
     "Count the positive integers that divide 6 factorial evenly."),
    ("A bag contains 5 red marbles and 7 blue marbles. Two marbles are drawn at random without replacement. What is "
     "the probability that both marbles are red? Express your answer as a common fraction.",
     "There are 5 red and 7 blue marbles in a bag, and we pick two of them at random without putting the first back. "
     "Find the probability that we get two red marbles."),
    ("Compute the remainder when $2^{100}$ is divided by 7. Show that your answer is between 0 and 6 inclusive.",
     "What remainder do you get when you divide 2 raised to the 100th power by 7?"),
    ("A train travels 300 miles in 5 hours. At the same rate, how many miles will it travel in 8 hours? Assume the "
     "speed of the train stays constant for the whole trip.",
     "Going at a steady speed, a train covers 300 miles in five hours. How far does it go in eight hours?"),
    ("Let $a$ and $b$ be real numbers such that $a + b = 7$ and $ab = 10$. Find the value of $a^3 + b^3$ and simplify "
     "your answer completely.",
     "Two real numbers a and b have sum 7 and product 10. What is a cubed plus b cubed?"),
    ("The perimeter of a square is 48 centimeters. What is the area of the square, in square centimeters? Do not "
     "include the units in your final answer.",
     "A square has a perimeter of 48 cm. Find its area in square centimeters."),
    ("In triangle $ABC$, $AB = 13$, $BC = 14$, and $CA = 15$. Find the area of triangle $ABC$ using any method you "
     "like, and give the exact value.",
     "A triangle ABC has side lengths AB = 13, BC = 14 and CA = 15. Compute its area."),
    ("Tom has 3 times as many stamps as Jerry. Together they have 84 stamps. How many stamps does Tom have if each of "
     "them keeps all of his stamps?",
     "Tom owns three times the number of stamps Jerry owns, and the two of them have 84 stamps in total. How many "
     "belong to Tom?"),
    ("What is the smallest positive integer $n$ such that $\\sqrt{n}$ is greater than 12.5? Write the answer as a "
     "single whole number.",
     "Find the least positive integer n for which the square root of n exceeds 12.5."),
    ("A store sells pencils at 4 for $1. How many dollars does it cost to buy 60 pencils at this store if there is no "
     "discount for buying in bulk?",
     "Pencils are sold four for one dollar at a shop. What is the price, in dollars, of sixty pencils?"),
    ("Solve for $x$: $\\frac{x}{3} + \\frac{x}{4} = 14$. Express your answer as an integer and check it by substitution.",
     "Find x if x divided by 3 plus x divided by 4 equals 14."),
    ("How many ways are there to arrange the letters of the word BANANA in a row if identical letters are not "
     "distinguished from each other? The word has 6 letters.",
     "Count the distinct arrangements of the six letters in BANANA, treating repeated letters as identical."),
    ("A circle has radius 6. A chord of the circle is at distance 4 from the center. What is the length of the chord? "
     "Express your answer in simplest radical form.",
     "In a circle of radius 6, a chord lies 4 units away from the center. Find how long the chord is, in simplest "
     "radical form."),
    ("The average of five numbers is 18. When one number is removed, the average of the remaining four numbers is "
     "16. What number was removed from the list?",
     "Five numbers have a mean of 18. After one of them is taken out, the other four have a mean of 16. Which number "
     "was taken out?"),
    ("Maria reads 25 pages of a book every day. The book has 400 pages. After 9 days, how many pages does she still "
     "have left to read before she finishes the book?",
     "A 400-page book is being read by Maria at a pace of 25 pages daily. How many pages remain unread after nine days?"),
]

# Clean prompts: new problems built from the stock phrases benchmarks share with everyday corpora.
_STOCK = [
    "Express your answer as a common fraction.",
    "Express your answer in simplest radical form.",
    "How much in dollars does she make every day at the farmers' market?",
    "What is the probability that both marbles are red? Express your answer as a common fraction.",
    "Find the number of ordered pairs $(m,n)$ of positive integers such that",
    "Give your answer as an integer with no units.",
    "What is the sum of the lengths of all 12 edges of the box?",
]
_SUBJECTS = ["Liam", "Ava", "Noah", "Emma", "Mia", "Lucas", "Zoe", "Omar", "Priya", "Chen"]
_ITEMS = ["apples", "books", "coins", "tickets", "cookies", "stickers", "shells", "cards"]


def clean_prompts(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        who, what = rng.choice(_SUBJECTS), rng.choice(_ITEMS)
        a, b, c = rng.randint(2, 90), rng.randint(2, 90), rng.randint(2, 9)
        body = rng.choice([
            f"{who} has {a} {what} and gives {b} of them to a friend, then buys {c} boxes with {a + b} {what} each. How many {what} does {who} have now?",
            f"A sequence starts with {a} and each term is {c} more than the previous one. What is the {b}th term of the sequence?",
            f"{who} picks one of {a} {what} at random, of which {min(a, b)} are marked. What is the chance the chosen one is marked?",
            f"The ratio of {what} to boxes is {c} to 1, and there are {a} boxes. A further {b} {what} arrive. How many {what} are there in all?",
            f"Find all real $x$ with $x^2 - {a + b}x + {a * b} = 0$ and report the larger root.",
        ])
        stock = rng.choice(_STOCK)
        out.append(f"{body} {stock}" if rng.random() < 0.5 else f"{stock} {body}")
    return out


def _latex_wrapped(text: str) -> str:
    t = text.replace("\\frac", "\\dfrac")
    t = re.sub(r"\{([^{}]*)\}", lambda m: "{ " + m.group(1) + " }", t)
    t = re.sub(r"\$([^$]*)\$", lambda m: "\\(" + m.group(1) + "\\)", t)
    return "\n".join(textwrap.wrap(t, 38))


def _numbers_changed(text: str) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group()) + 7), text)


def _case_whitespace(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    return "  ".join(w.upper() if rng.random() < 0.5 else w.lower() for w in words).replace(".  ", ".\n\n")


def labeled_rows(seed: int = 0, clean: int = 1000) -> tuple[list[str], list[tuple[str, str, int]]]:
    """(benchmark problems, rows as (prompt, kind, problem index or -1 for clean))."""
    rng = random.Random(seed)
    problems = [p for p, _ in PAIRS]
    rows: list[tuple[str, str, int]] = []
    for i, (problem, paraphrase) in enumerate(PAIRS):
        rows.append((problem, "verbatim", i))
        rows.append((_case_whitespace(problem, rng), "case_whitespace", i))
        rows.append((f"Here is a problem from my homework. Please solve it step by step.\n\n{problem}\n\n"
                     "Put your final answer within \\boxed{}.", "embedded", i))
        rows.append((_latex_wrapped(problem), "latex_wrapped", i))
        rows.append((_numbers_changed(problem), "numbers_changed", i))
        rows.append((paraphrase, "paraphrase", i))
    rows += [(p, "clean", -1) for p in clean_prompts(clean)]
    return problems, rows


KINDS = ("verbatim", "case_whitespace", "embedded", "latex_wrapped", "numbers_changed", "paraphrase")
