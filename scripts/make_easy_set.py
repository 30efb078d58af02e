#!/usr/bin/env python3
"""Writes kiln's easy problem set, engine/src/lab/problems/easy.jsonl: 20 small Python functions
in HumanEval's JSONL shape (task_id, prompt, canonical_solution, test, entry_point), written for
kiln so that the temperature lab's curves carry signal on a 135M model. Each canonical solution
is checked to pass its test, and a `return None` body to fail it.

Usage: python3 scripts/make_easy_set.py
"""
import json
import os

P = []


def add(name, sig, doc, sol, asserts):
    prompt = f'def {name}({sig}):\n    """{doc}\n    """\n'
    test = "def check(candidate):\n" + "".join(f"    assert {a}\n" for a in asserts)
    P.append(dict(task_id=f"kiln-easy/{len(P)}", prompt=prompt, canonical_solution=sol,
                  test=test, entry_point=name))


add("add", "a, b", "Return the sum of a and b.\n    >>> add(2, 3)\n    5", "    return a + b\n",
    ["candidate(2, 3) == 5", "candidate(-1, 1) == 0", "candidate(0, 0) == 0", "candidate(10, -4) == 6"])
add("is_even", "n", "Return True if the integer n is even, False otherwise.\n    >>> is_even(4)\n    True", "    return n % 2 == 0\n",
    ["candidate(4) is True", "candidate(7) is False", "candidate(0) is True", "candidate(-3) is False"])
add("factorial", "n", "Return n! for a non-negative integer n.\n    >>> factorial(5)\n    120",
    "    result = 1\n    for i in range(2, n + 1):\n        result *= i\n    return result\n",
    ["candidate(0) == 1", "candidate(1) == 1", "candidate(5) == 120", "candidate(10) == 3628800"])
add("square", "x", "Return x squared.\n    >>> square(3)\n    9", "    return x * x\n",
    ["candidate(3) == 9", "candidate(-4) == 16", "candidate(0) == 0", "candidate(1.5) == 2.25"])
add("maximum", "numbers", "Return the largest number in a non-empty list.\n    >>> maximum([1, 5, 3])\n    5", "    return max(numbers)\n",
    ["candidate([1, 5, 3]) == 5", "candidate([-2, -9]) == -2", "candidate([7]) == 7", "candidate([0, 0, 1]) == 1"])
add("sum_list", "numbers", "Return the sum of the numbers in the list (0 for an empty list).\n    >>> sum_list([1, 2, 3])\n    6", "    return sum(numbers)\n",
    ["candidate([1, 2, 3]) == 6", "candidate([]) == 0", "candidate([-1, 1, 5]) == 5"])
add("reverse_string", "s", "Return the string s reversed.\n    >>> reverse_string('abc')\n    'cba'", "    return s[::-1]\n",
    ["candidate('abc') == 'cba'", "candidate('') == ''", "candidate('racecar') == 'racecar'", "candidate('ab cd') == 'dc ba'"])
add("is_palindrome", "s", "Return True if the string s reads the same forwards and backwards.\n    >>> is_palindrome('level')\n    True", "    return s == s[::-1]\n",
    ["candidate('level') is True", "candidate('hello') is False", "candidate('') is True", "candidate('ab') is False"])
add("count_vowels", "s", "Return the number of vowels (a, e, i, o, u, lower or upper case) in s.\n    >>> count_vowels('Hello')\n    2",
    "    return sum(1 for c in s.lower() if c in 'aeiou')\n",
    ["candidate('Hello') == 2", "candidate('xyz') == 0", "candidate('AEIOU') == 5", "candidate('') == 0"])
add("fibonacci", "n", "Return the n-th Fibonacci number, with fibonacci(0) == 0 and fibonacci(1) == 1.\n    >>> fibonacci(10)\n    55",
    "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    ["candidate(0) == 0", "candidate(1) == 1", "candidate(2) == 1", "candidate(10) == 55", "candidate(20) == 6765"])
add("celsius_to_fahrenheit", "c", "Convert a temperature from degrees Celsius to degrees Fahrenheit.\n    >>> celsius_to_fahrenheit(100)\n    212.0",
    "    return c * 9 / 5 + 32\n",
    ["candidate(100) == 212", "candidate(0) == 32", "candidate(-40) == -40", "abs(candidate(37) - 98.6) < 1e-9"])
add("absolute", "x", "Return the absolute value of x without using abs().\n    >>> absolute(-3)\n    3", "    return -x if x < 0 else x\n",
    ["candidate(-3) == 3", "candidate(4) == 4", "candidate(0) == 0"])
add("minimum_of_two", "a, b", "Return the smaller of a and b.\n    >>> minimum_of_two(4, 2)\n    2", "    return a if a < b else b\n",
    ["candidate(4, 2) == 2", "candidate(-1, 3) == -1", "candidate(5, 5) == 5"])
add("count_words", "text", "Return the number of words in text, where words are separated by whitespace.\n    >>> count_words('the quick fox')\n    3",
    "    return len(text.split())\n",
    ["candidate('the quick fox') == 3", "candidate('') == 0", "candidate('  one  ') == 1", "candidate('a b\\tc\\nd') == 4"])
add("squares", "numbers", "Return a list with the square of each number, in order.\n    >>> squares([1, 2, 3])\n    [1, 4, 9]",
    "    return [x * x for x in numbers]\n",
    ["candidate([1, 2, 3]) == [1, 4, 9]", "candidate([]) == []", "candidate([-2]) == [4]"])
add("filter_even", "numbers", "Return the even numbers of the list, in order.\n    >>> filter_even([1, 2, 3, 4])\n    [2, 4]",
    "    return [x for x in numbers if x % 2 == 0]\n",
    ["candidate([1, 2, 3, 4]) == [2, 4]", "candidate([1, 3]) == []", "candidate([0, -2, 5]) == [0, -2]"])
add("average", "numbers", "Return the arithmetic mean of a non-empty list of numbers.\n    >>> average([1, 2, 3, 4])\n    2.5",
    "    return sum(numbers) / len(numbers)\n",
    ["candidate([1, 2, 3, 4]) == 2.5", "candidate([5]) == 5", "candidate([-1, 1]) == 0"])
add("is_prime", "n", "Return True if n is a prime number, False otherwise.\n    >>> is_prime(7)\n    True",
    "    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n        if n % i == 0:\n            return False\n        i += 1\n    return True\n",
    ["candidate(7) is True", "candidate(1) is False", "candidate(2) is True", "candidate(9) is False", "candidate(97) is True", "candidate(0) is False"])
add("capitalize_words", "text", "Return text with the first letter of every space-separated word in upper case.\n    >>> capitalize_words('hello world')\n    'Hello World'",
    "    return ' '.join(w[:1].upper() + w[1:] for w in text.split(' '))\n",
    ["candidate('hello world') == 'Hello World'", "candidate('a') == 'A'", "candidate('') == ''"])
add("gcd", "a, b", "Return the greatest common divisor of two positive integers.\n    >>> gcd(12, 18)\n    6",
    "    while b:\n        a, b = b, a % b\n    return a\n",
    ["candidate(12, 18) == 6", "candidate(7, 13) == 1", "candidate(10, 5) == 5", "candidate(21, 14) == 7"])

for p in P:
    exec(p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n", {})
    try:
        exec(p["prompt"] + "    return None\n\n" + p["test"] + f"\ncheck({p['entry_point']})\n", {})
        raise SystemExit(f"{p['task_id']}: a `return None` body passes its test")
    except (AssertionError, TypeError):
        pass

out = os.path.join(os.path.dirname(__file__), "..", "engine", "src", "lab", "problems", "easy.jsonl")
with open(out, "w") as f:
    for p in P:
        f.write(json.dumps(p) + "\n")
print(f"{len(P)} problems checked, written to {os.path.normpath(out)}")
