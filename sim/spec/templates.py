"""Starting workflows for ``costsim init``: four commented files that validate and run as they are.

Each template teaches the keys by using them, with a comment saying what each number means and that it
is an assumption to replace with what the user's own logs say. Its first line,

    # yaml-language-server: $schema=costsim.schema.json

tells editors with the YAML language server (VS Code's YAML extension, Neovim, Helix, ...) where the
JSON Schema is, so they complete and check keys. :func:`write_template` writes that schema beside the
new file, so it works offline and matches the costsim that wrote it.

The templates are Python strings rather than package data files so they install with the package and
nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sim.core.errors import CostsimError
from sim.core.suggest import suggest

SCHEMA_FILE = "costsim.schema.json"
SCHEMA_LINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"
DEFAULT_TEMPLATE = "support-agent"


@dataclass(frozen=True)
class Template:
    summary: str  # one line for ``costsim init --list``
    text: str  # the workflow file


_HOW_TO = """\
# Every number below is a starting assumption: replace it with what your logs or a quick experiment
# say (tokens per step, how often a call's output is unusable, how many tool calls a task makes).
#
{commands}
#
# Your editor completes keys from {schema} (the first line says where it is); the README's
# Reference lists every key. A number is a fixed value; {{lognormal: {{median: M, sigma: S}}}}, {{normal:
# {{mean: M, sd: S}}}}, {{poisson: {{mean: M}}}}, {{uniform: {{low: A, high: B}}}} ... vary from task to task.
"""


def _commands(file: str) -> str:
    commands = [(f"costsim validate {file}", "check it: the file, line and key of any mistake"),
                (f"costsim run {file} --report", "simulate 10,000 tasks per alternative; write report.html"),
                ("costsim prices gpt-4.1", "look up models and their rates in USD per million tokens")]
    width = max(len(command) for command, _ in commands)
    return "\n".join(f"#   {command.ljust(width)}   {what}" for command, what in commands)


def _template(name: str, summary: str, intro: str, body: str) -> Template:
    how_to = _HOW_TO.format(commands=_commands(f"{name}.yaml"), schema=SCHEMA_FILE)
    return Template(summary, f"{SCHEMA_LINE}\n#\n{intro}#\n{how_to}\n{body}")


TEMPLATES: dict[str, Template] = {
    "support-agent": _template(
        "support-agent",
        "classify, answer FAQs directly, or plan, search in a loop and answer (branch, loop, tool, retries)",
        "# A customer-support agent, written by `costsim init support-agent`: classify the request; answer the\n"
        "# simple ones directly; for the rest, plan, search a knowledge base in a loop, and answer.\n",
        """\
name: support-agent
description: Classify the request; answer FAQs directly; otherwise plan, search in a loop and answer.

# Roles: each llm step names the role that makes its call. These are the baseline alternative.
models:
  fast: openai:gpt-4.1-nano        # a cheap model for routing
  main: openai:gpt-4.1-mini        # the model doing the work

# Alternatives swap some roles' models. All of them run on the same simulated tasks, so the report's
# "vs baseline" column measures their difference task by task.
alternatives:
  gpt-4.1: {main: openai:gpt-4.1}
  claude-sonnet-4.6: {main: anthropic:claude-sonnet-4-6}

# Tokens at the head of every call, drawn once per task.
context:
  system: 1200                                    # policies and tool descriptions
  user: {lognormal: {median: 200, sigma: 0.5}}    # the customer's message: most short, a few long

steps:
  - id: classify
    llm: fast
    prompt: 400                    # this step's own instructions
    output: 20                     # a label
    history: none                  # sees system + user + its prompt only, not the conversation
  - id: route
    branch:                        # one arm runs per task; the p's sum to 1
      faq:
        p: 0.6
        steps:
          - id: faq_answer
            llm: main
            prompt: 300
            output: {lognormal: {median: 250, sigma: 0.4}}
      issue:
        p: 0.4
        steps:
          - id: plan
            llm: main
            prompt: 800
            output: {normal: {mean: 300, sd: 80}}
          - id: lookups
            repeat: {poisson: {mean: 1.5}, min: 1}      # searches per task: random, at least one
            steps:
              - id: search
                tool: search
                result: {lognormal: {median: 1000, sigma: 0.6}}   # tokens the result adds to the conversation
                latency: {lognormal: {median: 0.8, sigma: 0.5}}   # seconds
                fail: 0.05                                        # 5% of searches error and are retried
              - id: read_results
                llm: main
                prompt: 100
                output: {normal: {mean: 150, sd: 50}}
          - id: answer
            llm: main
            prompt: 150
            output: {lognormal: {median: 500, sigma: 0.3}}
            # Share of answers your output check rejects, per model (default: any other model).
            fail: {default: 0.08, openai:gpt-4.1: 0.04, anthropic:claude-sonnet-4-6: 0.04}

# With history: full (the default) every call re-sends the conversation so far: the plan, each search
# result, each reading of them. That is why the answer's input is several times the user's message.

retry:
  max_attempts: 3            # per call: the first try and up to two retries, each billed in full
  on_exhausted: fail_task    # all three failed: the task fails (or {escalate: ROLE_OR_MODEL})
task_retry:
  max_attempts: 1            # 2 would run a failed task once more from the start
""",
    ),
    "rag-chatbot": _template(
        "rag-chatbot",
        "a documentation chatbot: several turns, each retrieving passages and answering (context growth)",
        "# A documentation chatbot with retrieval (RAG), written by `costsim init rag-chatbot`. A task is one\n"
        "# conversation of a few turns; each turn retrieves passages and answers with the conversation so far.\n",
        """\
name: rag-chatbot
description: A documentation chatbot; each turn of a conversation retrieves passages and answers.

models:
  chat: openai:gpt-4.1-mini
alternatives:
  gpt-4.1-nano: {chat: openai:gpt-4.1-nano}
  gemini-2.5-flash: {chat: google:gemini-2.5-flash}
  claude-haiku-4.5: {chat: anthropic:claude-haiku-4-5}

context:
  system: 600                                     # the assistant's instructions
  user: {lognormal: {median: 60, sigma: 0.6}}     # the first question

steps:
  - id: turns
    repeat: {poisson: {mean: 2.5}, min: 1}        # turns per conversation
    steps:
      - id: retrieve
        tool: vector_search
        result: {normal: {mean: 2000, sd: 300}}   # the top passages, in tokens
        latency: {lognormal: {median: 0.15, sigma: 0.4}}
        fail: 0.01
        cost_usd: 0.00002                         # a hosted vector database's price per query (assumed)
      - id: answer
        llm: chat
        prompt: {lognormal: {median: 40, sigma: 0.5}}   # the follow-up question
        output: {lognormal: {median: 220, sigma: 0.5}}
        fail: 0.02                                # answers a groundedness check rejects
        # history: full (the default): each turn re-sends every earlier turn, retrieved passages
        # included, so the third turn costs far more than the first. Try `history: none` to compare.

retry:
  max_attempts: 2
""",
    ),
    "classifier": _template(
        "classifier",
        "label each ticket with a small model; escalate to a big one when the small one keeps failing",
        "# A ticket classifier, written by `costsim init classifier`: one short call per ticket on a small\n"
        "# model; a ticket the small model fails twice on is escalated to a big model.\n",
        """\
name: classifier
description: Label each support ticket with one of 20 categories; escalate to a big model on repeated failure.

models:
  small: openai:gpt-4.1-nano
  big: openai:gpt-4.1
alternatives:
  mini-first: {small: openai:gpt-4.1-mini}
  flash-first: {small: google:gemini-2.5-flash}

context:
  system: 800                                     # the 20 labels with a definition of each
  user: {lognormal: {median: 180, sigma: 0.7}}    # the ticket

steps:
  - id: label
    llm: small
    prompt: 100
    output: 8                                     # one label
    history: none
    # Share of outputs that are not one of the labels, per model (default: any model not listed).
    fail: {default: 0.06, openai:gpt-4.1-mini: 0.03, openai:gpt-4.1: 0.01}
    retry:
      max_attempts: 2                             # try the small model twice ...
      on_exhausted: {escalate: big}               # ... then the big one (with two attempts of its own)
""",
    ),
    "batch-pipeline": _template(
        "batch-pipeline",
        "nightly document extraction: a chunk loop on a cheap model, a merge on a stronger one, task re-runs",
        "# A nightly extraction pipeline, written by `costsim init batch-pipeline`: a task is one contract,\n"
        "# split into chunks; a cheap model extracts fields from each chunk, a stronger one merges them.\n",
        """\
name: batch-pipeline
description: Extract fields from each chunk of a contract, then merge them into one record.

models:
  extract: openai:gpt-4.1-mini
  merge: openai:gpt-4.1
alternatives:
  all-mini: {merge: openai:gpt-4.1-mini}
  gemini-flash: {extract: google:gemini-2.5-flash, merge: google:gemini-2.5-flash}

context:
  system: 500                                     # the fields to extract and the output format
  user: 0                                         # no user: the document comes in chunks below

steps:
  - id: chunks
    repeat: {lognormal: {median: 6, sigma: 0.6}, min: 1, max: 40}   # chunks per contract
    steps:
      - id: extract_chunk
        llm: extract
        prompt: {normal: {mean: 3000, sd: 400}}   # the chunk and the instructions
        output: {normal: {mean: 250, sd: 60}}     # the fields found, as JSON
        history: none                             # each chunk is read on its own
        fail: 0.03                                # invalid JSON
  - id: merge
    llm: merge
    prompt: {lognormal: {median: 1500, sigma: 0.5}}   # the chunks' extractions, passed in the prompt
    output: {normal: {mean: 600, sd: 120}}
    history: none                                 # not the chunks themselves: only their extractions
    fail: 0.05                                    # records that fail the schema check

retry:
  max_attempts: 3
task_retry:
  max_attempts: 2            # a contract whose run failed is processed once more from the start
""",
    ),
}


def template_names() -> list[str]:
    return list(TEMPLATES)


def _template_named(name: str) -> Template:
    if name in TEMPLATES:
        return TEMPLATES[name]
    hint = suggest(name, TEMPLATES) or ";"
    raise CostsimError(f"no template {name!r}{hint} the templates are {', '.join(TEMPLATES)}")




def write_template(name: str, path: Path | str | None = None) -> list[Path]:
    """Write template ``name`` to ``path`` and the schema beside it; returns the paths written, workflow
    first.

    ``path`` defaults to ``NAME.yaml`` in the current folder; an existing folder, or a path written as a
    folder (ending in ``/``: ``sub/``, created if need be), gets ``NAME.yaml`` inside it. A file in a
    folder that does not exist is refused (a mistyped folder should not be made silently). Nothing is
    ever overwritten: an existing workflow file is refused, and an existing ``costsim.schema.json`` is
    kept as it is (it is then not among the paths returned; ``costsim schema`` prints the current one).
    """
    from sim.core.files import atomic_write_text

    template = _template_named(name)
    as_folder = isinstance(path, str) and path.endswith(("/", os.sep))
    path = Path(f"{name}.yaml") if path is None else Path(path)
    if as_folder and not path.exists():
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise CostsimError(f"{path}: could not create the folder: {exc.strerror or exc}") from None
    if path.is_dir():
        path = path / f"{name}.yaml"
    elif as_folder:
        raise CostsimError(f"{path}: is a file, not a folder; give a folder, or a new file name without the "
                           "trailing /")
    if path.exists():
        raise CostsimError(f"{path}: already exists; give another PATH, or move the file away first")
    if not path.parent.is_dir():
        raise CostsimError(f"{path}: the folder {path.parent} does not exist; create it first, or write PATH as "
                           f"a folder ({path.parent}/) to have init create it")
    schema_path = path.parent / SCHEMA_FILE
    text = template.text
    if path.name != f"{name}.yaml":  # the usage comments name the file as written
        text = text.replace(_commands(f"{name}.yaml"), _commands(path.name))
    atomic_write_text(path, text)
    if schema_path.exists():
        return [path]
    from sim.spec.schema import schema_text  # pydantic and the spec load only when a schema is written

    atomic_write_text(schema_path, schema_text())
    return [path, schema_path]
