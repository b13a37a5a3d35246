"""Small rows shaped like the real evaluation sets the benchmark presets read (written for these
tests; the column names and value types are the real datasets')."""

# Maxwell-Jia/AIME_2024: ID, Problem, Solution, Answer (an integer).
AIME24 = [
    {
        "ID": "2024-I-1",
        "Problem": "Every morning Aya goes for a $9$-kilometer-long walk and stops at a coffee shop afterwards. When "
        "she walks at a constant speed of $s$ kilometers per hour, the walk takes her 4 hours, including $t$ minutes "
        "spent in the coffee shop. Find the number of minutes the walk takes her, including the $t$ minutes spent in "
        "the coffee shop.",
        "Solution": "...",
        "Answer": 204,
    },
    {
        "ID": "2024-II-4",
        "Problem": "Let $x,y$ and $z$ be positive real numbers that satisfy the following system of equations: "
        "\\[\\log_2\\left({x \\over yz}\\right) = {1 \\over 2}\\] Then the value of $\\left|\\log_2(x^4y^3z^2)\\right|$ "
        "is $\\tfrac{m}{n}$ where $m$ and $n$ are relatively prime positive integers. Find $m+n$.",
        "Solution": "...",
        "Answer": 33,
    },
]

# math-ai/aime25: problem, answer, id.
AIME25 = [
    {"problem": "Find the sum of all integer bases $b>9$ for which $17_b$ is a divisor of $97_b$.", "answer": "70", "id": "0"},
    {
        "problem": "The 9 members of a baseball team went to an ice-cream parlor after their game. Each player had a "
        "single scoop cone of chocolate, vanilla, or strawberry ice cream. Find the remainder when N is divided by 1000.",
        "answer": "16",
        "id": "2",
    },
]

# HuggingFaceH4/MATH-500: problem, solution, answer, subject, level, unique_id.
MATH500 = [
    {
        "problem": "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.  Enter your answer in the "
        "form $(r,\\theta),$ where $r > 0$ and $0 \\le \\theta < 2 \\pi.$",
        "solution": "... $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$",
        "answer": "\\left( 3, \\frac{\\pi}{2} \\right)",
        "subject": "Precalculus",
        "level": 2,
        "unique_id": "test/precalculus/807.json",
    },
    {
        "problem": "If $f(x) = \\dfrac{3x-2}{x-2}$, what is the value of $f(-2) +f(-1)+f(0)$? Express your answer as a "
        "common fraction.",
        "solution": "$f(-2)+f(-1)+f(0)=2+\\frac{5}{3}+1=\\boxed{\\frac{14}{3}}$",
        "answer": "\\frac{14}{3}",
        "subject": "Algebra",
        "level": 3,
        "unique_id": "test/algebra/2584.json",
    },
    {
        "problem": "Compute $\\dbinom{16}{5}$.",
        "solution": "$\\boxed{4368}$",
        "answer": "4368",
        "subject": "Counting & Probability",
        "level": 1,
        "unique_id": "test/counting_and_probability/1.json",
    },
]

# math-ai/amc23: id, question, answer (a float in the real set), url.
AMC23 = [
    {
        "id": 0,
        "question": "Cities $A$ and $B$ are $45$ miles apart. Alicia lives in $A$ and Beth lives in $B$. Alicia bikes "
        "towards $B$ at 18 miles per hour. Leaving at the same time, Beth bikes toward $A$ at 12 miles per hour. How "
        "many miles from City $A$ will they be when they meet?",
        "answer": 27.0,
        "url": "https://artofproblemsolving.com/wiki/index.php/2023_AMC_12A_Problems/Problem_1",
    },
]

# openai/gsm8k (main, test): question, answer ending in "#### N".
GSM8K_TEST = [
    {
        "question": "Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for "
        "her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck "
        "egg. How much in dollars does she make every day at the farmers' market?",
        "answer": "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18",
    },
    {
        "question": "A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?",
        "answer": "It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total is 2+1=<<2+1=3>>3 bolts\n#### 3",
    },
]

# Idavidrein/gpqa (gpqa_diamond): "Question", "Correct Answer", "Incorrect Answer 1..3", "Record ID", ...
GPQA_DIAMOND = [
    {
        "Pre-Revision Question": "...",
        "Question": "Two quantum states with energies E1 and E2 have a lifetime of 10^-9 sec and 10^-8 sec, "
        "respectively. We want to clearly distinguish these two energy levels. Which one of the following options "
        "could be their energy difference so that they can be clearly resolved?",
        "Correct Answer": "10^-4 eV",
        "Incorrect Answer 1": "10^-11 eV",
        "Incorrect Answer 2": "10^-8 eV",
        "Incorrect Answer 3": "10^-9 eV",
        "Record ID": "recj2QNYIyQv3JKWT",
        "High-level domain": "Physics",
    },
]

# livecodebench/code_generation_lite: question_title, question_content, platform, question_id, contest_id,
# contest_date (ISO text), starter_code, difficulty, public_test_cases (JSON text), private_test_cases, metadata.
LIVECODEBENCH = [
    {
        "question_title": "Overall Winner",
        "question_content": "Takahashi and Aoki played N games. You are given a string S of length N, representing the "
        "results of these games. Takahashi won the i-th game if the i-th character of S is T, and Aoki won that game "
        "if it is A. The overall winner between Takahashi and Aoki is the one who won more games than the other. If "
        "they had the same number of wins, the overall winner is the one who reached that number of wins first. Find "
        "the overall winner: Takahashi or Aoki.",
        "platform": "atcoder",
        "question_id": "abc301_a",
        "contest_id": "abc301",
        "contest_date": "2023-05-13T00:00:00",
        "starter_code": "",
        "difficulty": "easy",
        "public_test_cases": '[{"input": "5\\nTTAAT\\n", "output": "T\\n", "testtype": "stdin"}]',
        "private_test_cases": "eJy...",
        "metadata": "{}",
    },
    {
        "question_title": "count-the-number-of-special-characters-i",
        "question_content": "You are given a string word. A letter is called special if it appears both in lowercase "
        "and uppercase in word. Return the number of special letters in word.",
        "platform": "leetcode",
        "question_id": "3408",
        "contest_id": "weekly-contest-394",
        "contest_date": "2024-04-21T00:00:00",
        "starter_code": "class Solution:\n    def numberOfSpecialChars(self, word: str) -> int:\n        ",
        "difficulty": "easy",
        "public_test_cases": '[{"input": "\\"aaAbcBC\\"", "output": "3", "testtype": "functional"}]',
        "private_test_cases": "eJy...",
        "metadata": '{"func_name": "numberOfSpecialChars"}',
    },
]
