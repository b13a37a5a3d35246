"""Small rows shaped exactly like the real RLVR datasets the presets read (no hub here)."""

GSM8K = [
    {
        "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
        "How many clips did Natalia sell altogether in April and May?",
        "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
    },
    {
        "question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
        "How much did she earn?",
        "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned "
        "0.2 x 50 = $<<0.2*50=10>>10.\n#### 10",
    },
    {
        "question": "A stadium holds 1,250 people per section and has 4 sections. How many people fit?",
        "answer": "1,250 * 4 = <<1250*4=5000>>5,000\n#### 5,000",
    },
]

# MATH-500 (HuggingFaceH4/MATH-500): problem, solution, answer, subject, level, unique_id.
MATH500 = [
    {
        "problem": "Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.  Enter your answer "
        "in the form $(r,\\theta),$ where $r > 0$ and $0 \\le \\theta < 2 \\pi.$",
        "solution": "We have that $r = \\sqrt{0^2 + 3^2} = 3.$ ... Therefore, the polar coordinates are "
        "$\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$",
        "answer": "\\left( 3, \\frac{\\pi}{2} \\right)",
        "subject": "Precalculus",
        "level": 2,
        "unique_id": "test/precalculus/807.json",
    },
    {
        "problem": "If $f(x) = \\frac{3x-2}{x-2}$, what is the value of $f(-2) +f(-1)+f(0)$? Express your answer "
        "as a common fraction.",
        "solution": "$f(-2)+f(-1)+f(0)=2+\\frac{5}{3}+1=\\boxed{\\frac{14}{3}}$",
        "answer": "\\frac{14}{3}",
        "subject": "Algebra",
        "level": 3,
        "unique_id": "test/algebra/2584.json",
    },
]

# hendrycks competition_math: problem, level, type, solution (gold only inside \boxed{}).
HENDRYCKS = [
    {
        "problem": "How many vertical asymptotes does the graph of $y=\\frac{2}{x^2+x-6}$ have?",
        "level": "Level 3",
        "type": "Algebra",
        "solution": "The denominator factors as $(x-2)(x+3)$, so there are $\\boxed{2}$ vertical asymptotes.",
    },
    {
        "problem": "What is the positive difference between $120\\%$ of 30 and $130\\%$ of 20?",
        "level": "Level 1",
        "type": "Algebra",
        "solution": "$120\\%$ of 30 is $36$ and $130\\%$ of 20 is $26$; the difference is $\\boxed{10}$.",
    },
]

# AI-MO/NuminaMath-CoT: source, problem, solution, messages.
NUMINA = [
    {
        "source": "synthetic_math",
        "problem": "Find the sum of all integers $k$ such that $\\binom{23}{4} + \\binom{23}{5} = \\binom{24}{k}$.",
        "solution": "By Pascal's identity ... so the sum is $5 + 19 = \\boxed{24}$.",
        "messages": [
            {"role": "user", "content": "Find the sum of all integers $k$ ..."},
            {"role": "assistant", "content": "By Pascal's identity ... $\\boxed{24}$."},
        ],
    },
    {
        "source": "olympiads",
        "problem": "Prove that for every positive integer $n$, $n^3 - n$ is divisible by 6.",
        "solution": "Since $n^3-n=(n-1)n(n+1)$ is a product of three consecutive integers, it is divisible by 6.",
        "messages": [],
    },
]

# agentica-org/DeepScaleR-Preview-Dataset: problem, answer, solution.
DEEPSCALER = [
    {
        "problem": "Let $a_n = 6^n + 8^n$. Determine the remainder on dividing $a_{83}$ by $49$.",
        "answer": "35",
        "solution": "...",
    },
    {"problem": "Compute $\\sqrt{(31)(30)(29)(28)+1}$.", "answer": "869", "solution": "..."},
]

# MMLU (cais/mmlu): question, subject, choices, answer (index).
MMLU = [
    {
        "question": "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.",
        "subject": "abstract_algebra",
        "choices": ["0", "4", "2", "6"],
        "answer": 1,
    },
    {
        "question": "Which of the following is the body cavity that contains the pituitary gland?",
        "subject": "anatomy",
        "choices": ["Abdominal", "Cranial", "Pleural", "Spinal"],
        "answer": 1,
    },
]

# ARC (allenai/ai2_arc): id, question, choices {text, label}, answerKey.
ARC = [
    {
        "id": "Mercury_SC_415702",
        "question": "George wants to warm his hands quickly by rubbing them. Which skin surface will produce the "
        "most heat?",
        "choices": {
            "text": ["dry palms", "wet palms", "palms covered with oil", "palms covered with lotion"],
            "label": ["A", "B", "C", "D"],
        },
        "answerKey": "A",
    },
    {
        "id": "MCAS_2000_4_6",
        "question": "Which technology was developed most recently?",
        "choices": {"text": ["cellular telephone", "television", "refrigerator", "airplane"], "label": ["1", "2", "3", "4"]},
        "answerKey": "1",
    },
]

# Code: prompt plus tests (assert-style source, or stdin/stdout cases as JSON).
CODE = [
    {
        "prompt": "Write a function add(a, b) that returns the sum of a and b.",
        "tests": "assert add(1, 2) == 3\nassert add(-1, 1) == 0",
        "difficulty": "easy",
    },
    {
        "prompt": "Read two integers from standard input and print their product.",
        "tests": {"inputs": ["2 3\n", "10 10\n"], "outputs": ["6\n", "100\n"]},
        "difficulty": "easy",
    },
]
