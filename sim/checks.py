"""Checks that span more than one field of a workflow: step ids, roles and model references.

pydantic checks each value on its own; these checks need the whole file (is ``main`` a role? does the
catalog know ``openai:gpt-4.1-mni``?). Each problem is returned as (location, message), with the location
given as a path into the file's data, so :mod:`sim.loader` can name its line and column.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from sim.errors import CostsimError, UnknownModelError
from sim.pricing import Catalog
from sim.spec import BASELINE, Escalate, LlmStep, ToolStep, Workflow, dotted, iter_steps

Problem = tuple[tuple, str]


def is_model_ref(name: str) -> bool:
    """``provider:model`` names a model; a bare name names a role."""
    return ":" in name


def cross_references(workflow: Workflow) -> list[Problem]:
    """Every cross-field problem in ``workflow``, in file order."""
    price_problems, good_prices = _price_entries(workflow)
    for name in workflow.self_hosted:  # self-hosted models cost GPU time, not tokens
        good_prices[f"self:{name}"] = {"input": 0.0, "output": 0.0}
    catalog = Catalog(good_prices)
    # A model whose prices: entry is broken is unknown to the catalog too; its entry's problem says why.
    unpriced = tuple(f"unknown model {loc[1]!r}" for loc, _ in price_problems)
    uses = [(loc, text) for loc, text in [*_roles_and_models(workflow, catalog), *_time_keys(workflow, catalog),
                                          *_quality_keys(workflow, catalog)]
            if not (unpriced and text.startswith(unpriced))]
    return [*_step_ids(workflow), *uses, *price_problems]


def _quality_keys(workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    """Quality rows name known models and fit the difficulty; ``fail: quality`` needs a difficulty."""
    difficulty = workflow.difficulty
    classes = list(difficulty.classes) if difficulty is not None and difficulty.classes else None
    for ref, row in workflow.quality.items():
        if ref != "default":
            yield from _model(ref, ("quality", ref), catalog)
        if difficulty is None:
            yield ("quality", ref), "quality needs difficulty: (the classes or score it is given against)"
        elif classes is None and isinstance(row, dict):
            yield ("quality", ref), "difficulty is a score, so a quality row is {skill: S, slope: W}"
        elif classes is not None and not isinstance(row, dict):
            yield ("quality", ref), f"difficulty has classes, so a quality row gives P(valid) for {', '.join(classes)}"
        elif classes is not None and set(row) != set(classes):
            missing, extra = sorted(set(classes) - set(row)), sorted(set(row) - set(classes))
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown {', '.join(extra)}"] if extra else [])
            yield ("quality", ref), f"a quality row gives every difficulty class ({', '.join(classes)}): {'; '.join(parts)}"
    for step, path, _ in iter_steps(workflow.steps):
        if isinstance(step, LlmStep) and step.fail == "quality" and difficulty is None:
            yield (*path, "fail"), "fail: quality needs a difficulty: block (how hard each task is)"


def _time_keys(workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    """Model references of the time keys, and the shared features that need traffic."""
    for ref in workflow.profiles:
        if ref != "default":
            yield from _model(ref, ("profiles", ref), catalog)
    for ref in workflow.limits:
        yield from _model(ref, ("limits", ref), catalog)
    for index, outage in enumerate(workflow.outages):
        yield from _model(outage.model, ("outages", index, "model"), catalog)
    if workflow.traffic is None:
        needs = "needs traffic: (tasks arriving over time) to know which calls meet; add e.g. " + (
            "traffic: {tasks_per_day: 1000, days: 30}")
        for key in ("limits", "outages", "self_hosted"):
            if getattr(workflow, key):
                yield (key,), f"{key} {needs}"


def _step_ids(workflow: Workflow) -> Iterator[Problem]:
    first_seen: dict[str, tuple] = {}
    for step, path, _ in iter_steps(workflow.steps):
        if step.id in first_seen:
            yield (*path, "id"), f"duplicate step id {step.id!r} (first used at {dotted(first_seen[step.id])})"
        else:
            first_seen[step.id] = path


def _unknown_role(name: str, roles: list[str]) -> str:
    close = difflib.get_close_matches(name, roles, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return (
        f"unknown role {name!r}{hint} (roles: {', '.join(roles)}; "
        "to name a model directly write provider:model)"
    )


def _model(ref: str, loc: tuple, catalog: Catalog) -> Iterator[Problem]:
    try:
        catalog.resolve(ref)
    except UnknownModelError as exc:
        if is_model_ref(ref):
            yield loc, exc.message
        else:
            hint = f"; did you mean {' or '.join(exc.suggestions)}?" if exc.suggestions else ""
            yield loc, f"a model is written provider:model, got {ref!r}{hint}"
    except CostsimError as exc:
        yield loc, exc.message


def _role_or_model(name: str, loc: tuple, roles: list[str], catalog: Catalog) -> Iterator[Problem]:
    if is_model_ref(name):
        yield from _model(name, loc, catalog)
    elif name not in roles:
        message = _unknown_role(name, roles)
        if "did you mean" not in message:  # perhaps a model written without its provider
            try:
                catalog.resolve(name)
            except UnknownModelError as exc:
                exact = [ref for ref in exc.suggestions if ref.lower().endswith(":" + name.lower())]
                if exact:
                    message = f"unknown role {name!r}; to call the model directly write {exact[0]} " + (
                        f"(roles: {', '.join(roles)})")
            except CostsimError:
                pass
        yield loc, message


def _roles_and_models(workflow: Workflow, catalog: Catalog) -> Iterator[Problem]:
    roles = list(workflow.models)
    for role, ref in workflow.models.items():
        yield from _model(ref, ("models", role), catalog)
    for name, overrides in workflow.alternatives.items():
        if name == BASELINE:
            yield ("alternatives", name), f"{BASELINE!r} is the name of the models: block; pick another name"
        for role, ref in overrides.items():
            if role not in roles:
                yield ("alternatives", name, role), _unknown_role(role, roles)
            yield from _model(ref, ("alternatives", name, role), catalog)
    if isinstance(workflow.retry.on_exhausted, Escalate):
        target = workflow.retry.on_exhausted.escalate
        yield from _role_or_model(target, ("retry", "on_exhausted", "escalate"), roles, catalog)
    for step, path, _ in iter_steps(workflow.steps):
        if isinstance(step, LlmStep):
            yield from _role_or_model(step.llm, (*path, "llm"), roles, catalog)
            if isinstance(step.fail, dict):
                for ref in step.fail:
                    if is_model_ref(ref):
                        yield from _model(ref, (*path, "fail", ref), catalog)
                    elif ref != "default":
                        close = difflib.get_close_matches(ref, ["default"], n=1, cutoff=0.6)
                        hint = "; did you mean 'default'?" if close else ""
                        if ref in roles:
                            hint = f"; fail is given per model, not per role: write {workflow.models[ref]}"
                        yield (*path, "fail", ref), f"unknown key {ref!r}{hint} (keys: default or provider:model)"
        if step.__dict__.get("retry") is not None and isinstance(step.retry.on_exhausted, Escalate):
            loc = (*path, "retry", "on_exhausted", "escalate")
            if isinstance(step, ToolStep):
                yield loc, "a tool step cannot escalate (only llm steps call models); use fail_task"
            else:
                yield from _role_or_model(step.retry.on_exhausted.escalate, loc, roles, catalog)


def _price_entries(workflow: Workflow) -> tuple[list[Problem], dict[str, dict[str, float]]]:
    """Check each ``prices`` entry on its own; return the problems and the entries that are fine."""
    problems, good = [], {}
    for ref, price in workflow.prices.items():
        fields = price.model_dump(exclude_none=True)
        if not is_model_ref(ref):
            problems.append((("prices", ref), f"a price is for a model written provider:model, got {ref!r}"))
            continue
        try:
            Catalog({ref: fields}).resolve(ref)
        except CostsimError as exc:
            problems.append((("prices", ref), exc.message.removeprefix("prices: ")))
        else:
            good[ref] = fields
    return problems, good
