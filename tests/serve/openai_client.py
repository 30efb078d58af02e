"""The official `openai` Python client against a running `kiln serve`.

Run by desktop/tests/serve.rs with KILN_URL (the /v1 base), KILN_KEY, KILN_PROMPT and KILN_GREEDY
(what `kiln generate --raw --temp 0 -n 24` printed for that prompt). Exits non-zero on the first
check that fails; prints one line per check.
"""

import os
import sys

import openai

url, key = os.environ["KILN_URL"], os.environ["KILN_KEY"]
prompt, greedy = os.environ["KILN_PROMPT"], os.environ["KILN_GREEDY"]
client = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=300)


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        sys.exit(1)


models = client.models.list()
model = models.data[0].id
check("models.list names the model", len(models.data) == 1 and model, models)

c = client.completions.create(model=model, prompt=prompt, max_tokens=24, temperature=0)
check("greedy completion equals kiln generate", c.choices[0].text == greedy,
      f"{c.choices[0].text!r} vs {greedy!r}")
check("usage counts the tokens", c.usage.completion_tokens == 24
      and c.usage.total_tokens == c.usage.prompt_tokens + 24, c.usage)
check("finish_reason length", c.choices[0].finish_reason == "length", c.choices[0])

parts = []
finishes = []
usage = None
for chunk in client.completions.create(model=model, prompt=prompt, max_tokens=24, temperature=0,
                                        stream=True, stream_options={"include_usage": True}):
    if chunk.usage:
        usage = chunk.usage
    for ch in chunk.choices:
        parts.append(ch.text)
        if ch.finish_reason:
            finishes.append(ch.finish_reason)
check("streamed completion equals the greedy text", "".join(parts) == greedy, "".join(parts))
check("one finish_reason, then usage", finishes == ["length"] and usage is not None
      and usage.completion_tokens == 24, (finishes, usage))

three = client.completions.create(model=model, prompt="# A list of fruits:\n", max_tokens=16,
                                  temperature=1.0, n=3, seed=42)
again = client.completions.create(model=model, prompt="# A list of fruits:\n", max_tokens=16,
                                  temperature=1.0, n=3, seed=42)
texts = [ch.text for ch in three.choices]
check("n=3 gives three choices with their indices",
      sorted(ch.index for ch in three.choices) == [0, 1, 2], texts)
check("the same seed gives the same choices", texts == [ch.text for ch in again.choices])

stopped = client.completions.create(model=model, prompt=prompt, max_tokens=64, temperature=0,
                                    stop=["\n", "return"])
check("stop strings end the text and are not included",
      "\n" not in stopped.choices[0].text and stopped.choices[0].finish_reason == "stop"
      and greedy.startswith(stopped.choices[0].text), stopped.choices[0])

lp = client.completions.create(model=model, prompt=prompt, max_tokens=6, temperature=0,
                               logprobs=2).choices[0].logprobs
check("completion logprobs: tokens, logprobs, top 2 each",
      len(lp.tokens) == 6 and len(lp.token_logprobs) == 6
      and all(len(t) == 2 for t in lp.top_logprobs) and "".join(lp.tokens) == greedy[:len("".join(lp.tokens))],
      lp)

chat = client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Write a Python function that adds two numbers."}],
    max_tokens=32, temperature=0, logprobs=True, top_logprobs=3)
msg = chat.choices[0].message
check("chat answers as the assistant", msg.role == "assistant" and len(msg.content) > 0, msg)
content = chat.choices[0].logprobs.content
check("chat logprobs: one entry per token with 3 alternatives and bytes",
      len(content) == chat.usage.completion_tokens and all(len(t.top_logprobs) == 3 for t in content)
      and all(bytes(t.bytes).decode("utf-8", "replace") == t.token for t in content if t.bytes), content[:2])

streamed = "".join(ch.choices[0].delta.content or "" for ch in client.chat.completions.create(
    model=model, messages=[{"role": "user", "content": "Write a Python function that adds two numbers."}],
    max_tokens=32, temperature=0, stream=True) if ch.choices)
check("streamed chat equals the non-streamed answer", streamed == msg.content, streamed)

try:
    client.completions.create(model=model, prompt=prompt, max_tokens=4, temperature=-1)
    check("a bad temperature is refused", False)
except openai.BadRequestError as e:
    check("a bad temperature is a 400 naming it", e.status_code == 400 and "temperature" in str(e), e)

try:
    openai.OpenAI(base_url=url, api_key="wrong", max_retries=0).models.list()
    check("a wrong key is refused", False)
except openai.AuthenticationError as e:
    check("a wrong key is a 401", e.status_code == 401, e)

print("openai client: all checks passed")
