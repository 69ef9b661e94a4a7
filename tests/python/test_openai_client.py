"""softslm serve driven by the official openai Python package (completions and chat,
streaming, soft thinking through extra_body, errors as the package's exceptions)."""
import json

import pytest

from conftest import softslm, COT

openai = pytest.importorskip("openai", reason="the openai package is not installed (scripts/setup --with-python)")


def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def generate_json(*args):
    out = softslm("generate", "-m", COT, "--json", *args).stdout
    return json.loads(out[: out.rindex("}") + 1])


def test_models_list(cot_server):
    models = client(cot_server).models.list()
    assert [m.id for m in models.data] == ["cot"]


def test_completion_equals_generate(cot_server):
    c = client(cot_server).completions.create(model="cot", prompt="4528+734=", max_tokens=100,
                                              temperature=0)
    g = generate_json("--prompt", "4528+734=", "-n", "100", "--temperature", "0")
    assert c.choices[0].text == g["text"]
    assert c.choices[0].finish_reason == "stop"
    assert c.usage.completion_tokens == g["n_generated"] - 1  # the end of text is not text


def test_soft_thinking_through_extra_body(cot_server):
    c = client(cot_server).completions.create(
        model="cot", prompt="305*7=", max_tokens=120, seed=9,
        extra_body={"soft_thinking": {"max_topk": 5, "early_stopping_entropy_threshold": 0.01}})
    g = generate_json("--prompt", "305*7=", "-n", "120", "--seed", "9", "--soft-thinking",
                      "--set", "max_topk=5")
    extra = c.choices[0].model_extra
    assert extra["thinking"] == g["thinking"]
    assert extra["answer"] == g["answer"]
    assert extra["soft_steps"] == g["thinking_steps"] > 0
    assert extra["think_end"] == g["think_end"]


def test_completion_stream_adds_up(cot_server):
    cl = client(cot_server)
    whole = cl.completions.create(model="cot", prompt="98765+4321=", max_tokens=120, temperature=0)
    text = "".join(ch.choices[0].text for ch in
                   cl.completions.create(model="cot", prompt="98765+4321=", max_tokens=120,
                                         temperature=0, stream=True))
    assert text == whole.choices[0].text


def test_chat_and_its_stream(cot_server):
    cl = client(cot_server)
    msgs = [{"role": "user", "content": "7+2="}]
    whole = cl.chat.completions.create(model="cot", messages=msgs, temperature=0)
    assert whole.choices[0].message.content == "9"
    assert whole.choices[0].message.model_extra["reasoning_content"]  # the chain of thought
    content, reasoning = "", ""
    for ch in cl.chat.completions.create(model="cot", messages=msgs, temperature=0, stream=True):
        d = ch.choices[0].delta
        content += d.content or ""
        reasoning += (d.model_extra or {}).get("reasoning_content") or ""
    assert content == "9"
    assert reasoning == whole.choices[0].message.model_extra["reasoning_content"]


def test_logprobs_in_chat(cot_server):
    r = client(cot_server).chat.completions.create(
        model="cot", messages=[{"role": "user", "content": "12*34="}], temperature=0,
        max_tokens=10, logprobs=True, top_logprobs=3)
    lp = r.choices[0].logprobs.content
    assert len(lp) == 10
    for t in lp:  # greedy: the chosen token is the most probable
        assert len(t.top_logprobs) == 3
        assert t.logprob == pytest.approx(t.top_logprobs[0].logprob)


def test_errors_are_the_packages_exceptions(cot_server):
    cl = client(cot_server)
    with pytest.raises(openai.BadRequestError) as e:
        cl.completions.create(model="cot", prompt="1+1=", max_tokens=5, temperature=5)
    assert "temperature" in str(e.value)
    with pytest.raises(openai.BadRequestError) as e:
        cl.completions.create(model="cot", prompt="1+1=", max_tokens=1000)
    assert "maximum context length" in str(e.value)
    with pytest.raises(openai.NotFoundError):
        cl.completions.create(model="gpt-4", prompt="1+1=", max_tokens=5)
    with pytest.raises(openai.BadRequestError) as e:
        cl.completions.create(model="cot", prompt="1+1=", max_tokens=5,
                              extra_body={"soft_thinking": {"bogus": 1}})
    assert "bogus" in str(e.value)
